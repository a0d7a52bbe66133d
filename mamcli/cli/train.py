"""`mam train`: parse the flags into a `TrainConfig`, run it, show progress and the result.

Every option's flag, default, help line and help panel come from its `TrainConfig` field
(mamcli/train/config.py); this module declares none of them again.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import typer

from mamcli.train.config import TrainConfig, config_field, default


def _option(name: str) -> Any:
    """The typer option of TrainConfig field `name`."""
    meta = config_field(name).metadata
    return typer.Option(
        default(name), *meta["flags"], help=meta["help"], rich_help_panel=meta["panel"]
    )


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


def command(
    data_root: list[str] = _option("data_roots"),
    backgrounds: Path | None = _option("backgrounds"),
    val_root: list[Path] = _option("val_roots"),
    val_split: float = _option("val_split"),
    crop_size: int | None = _option("crop_size"),
    augment: bool = _option("augment"),
    sam_checkpoint: Path = _option("sam_checkpoint"),
    model: str = _option("model"),
    steps: int = _option("steps"),
    warmup_steps: int = _option("warmup_steps"),
    batch_size: int = _option("batch_size"),
    lr: float = _option("lr"),
    betas: tuple[float, float] = _option("betas"),
    seed: int = _option("seed"),
    device: str = _option("device"),
    precision: str = _option("precision"),
    workers: int = _option("num_workers"),
    out_dir: Path = _option("out_dir"),
    checkpoint_every: int = _option("checkpoint_every"),
    val_every: int = _option("val_every"),
    log_every: int = _option("log_every"),
    resume: bool = _option("resume"),
) -> None:
    """Train the Mask-to-Matte refiner on a frozen SAM; run under torchrun for several
    GPUs or nodes.

    Examples:

    mam train --data-root data/am2k --sam-checkpoint sam_vit_b.pth -o runs/m2m

    mam train --data-root data/am2k --data-root data/d646:0.5 --precision bf16 ...

    torchrun --nproc-per-node 8 -m mamcli train ... -o runs/m2m --resume
    """
    from mamcli.train.config import RootSpec
    from mamcli.train.loop import LAST, train

    config = TrainConfig(
        data_roots=[RootSpec.parse(text) for text in data_root],
        sam_checkpoint=sam_checkpoint,
        out_dir=out_dir,
        model=model,
        backgrounds=backgrounds,
        val_roots=val_root,
        val_split=val_split,
        crop_size=crop_size,
        augment=augment,
        steps=steps,
        warmup_steps=warmup_steps,
        batch_size=batch_size,
        lr=lr,
        betas=betas,
        seed=seed,
        device=device,
        precision=precision,
        num_workers=workers,
        checkpoint_every=checkpoint_every,
        val_every=val_every,
        log_every=log_every,
        resume=resume,
    )
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
