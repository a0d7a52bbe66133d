"""`mam train`: parse the flags into a `TrainConfig`, run it, show progress and the result.

Every option's flag, default, help line, panel and check come from its `TrainConfig`
field (mamcli/train/config.py), through the same generator as `mam matte`'s.
"""

from __future__ import annotations

import sys
from typing import Any

import typer

from mamcli.cli.options import build_config, config_params, with_params
from mamcli.train.config import TrainConfig


class _Progress:
    """on_step for the CLI: a rich bar with ETA on a terminal, else a line every N steps."""

    def __init__(self, every: int) -> None:
        self.every = every
        self.bar = None
        if sys.stderr.isatty():
            from rich.console import Console
            from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

            self.bar = Progress(
                TextColumn("step {task.completed}/{task.total}"),
                BarColumn(),
                TextColumn("loss {task.fields[loss]:.4f}"),
                TimeRemainingColumn(),
                console=Console(stderr=True),
            )
            self.task = self.bar.add_task("train", total=None, loss=float("nan"))

    def __call__(self, step: int, total: int, loss: float) -> None:
        if self.bar is not None:
            if not self.bar.live.is_started:
                self.bar.start()
            self.bar.update(self.task, completed=step, total=total, loss=loss)
        elif step % self.every == 0 or step == total:
            typer.echo(f"step {step}/{total}: loss {loss:.4f}", err=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()


TRAIN_PARAMS = config_params(TrainConfig)


def _command(**values: Any) -> None:
    from mamcli.train.loop import LAST, train

    config = build_config(TrainConfig, TRAIN_PARAMS, values)
    progress = _Progress(config.log_every)
    try:
        summary = train(config, on_step=progress)
    finally:
        progress.close()
    if summary.rank != 0:
        return
    if summary.val_sad is not None:
        typer.echo(
            f"step {summary.steps} ({summary.precision}): loss {summary.loss:.4f}, "
            f"validation SAD {summary.val_sad:.3f} (best {summary.best_sad:.3f}, "
            f"SAM mask only {summary.baseline_sad:.3f})"
        )
    typer.echo(summary.out_dir / LAST)


command = with_params(_command, TRAIN_PARAMS, [])
command.__doc__ = """Train the Mask-to-Matte refiner on a frozen SAM.

    Run it under torchrun for several GPUs or nodes.

    Examples:

    mam train --data-root data/am2k --sam-checkpoint sam_vit_b.pth -o runs/m2m

    mam train --data-root data/am2k --data-root data/d646:0.5 --precision bf16 ...

    torchrun --nproc-per-node 8 -m mamcli train ... -o runs/m2m --resume
"""
