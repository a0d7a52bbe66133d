"""`mam train`: train the M2M refiner on a frozen SAM (mamcli/train/, docs/train.md)."""

from __future__ import annotations

from pathlib import Path

import typer

from mamcli.cli.common import fail
from mamcli.errors import MamError


def command(
    data_root: list[str] = typer.Option(
        ..., "--data-root", help="Data folder (fg/+alpha/ or image/+alpha/), DIR or DIR:WEIGHT."
    ),
    sam_checkpoint: Path = typer.Option(..., "--sam-checkpoint", help="Frozen SAM weights."),
    out_dir: Path = typer.Option(..., "-o", "--output", help="Run folder (checkpoints, log)."),
    model: str = typer.Option("vit_b", "--model", help="SAM backbone: vit_b, vit_l, vit_h, vit_t."),
    backgrounds: Path | None = typer.Option(
        None, "--backgrounds", help="Backgrounds for fg/ roots (default: ROOT/bg)."
    ),
    val_root: list[Path] = typer.Option(
        [], "--val-root", help="Validation folder(s); default: hold out --val-split."
    ),
    val_split: float = typer.Option(0.1, "--val-split", help="Fraction held out per root."),
    steps: int = typer.Option(20_000, "--steps", help="Total optimiser steps."),
    warmup_steps: int = typer.Option(4_000, "--warmup-steps", help="Linear lr warm-up steps."),
    batch_size: int = typer.Option(10, "--batch-size", help="Crops per step per process."),
    lr: float = typer.Option(1e-3, "--lr", help="Peak learning rate (Adam)."),
    crop_size: int | None = typer.Option(
        None, "--crop-size", help="Crop side before resizing to SAM's size (default: SAM's size)."
    ),
    no_augment: bool = typer.Option(
        False, "--no-augment", help="No affine/jitter/flip; fixed crops."
    ),
    device: str = typer.Option("auto", "--device", help="auto, cpu, cuda, cuda:N, mps."),
    bf16: bool = typer.Option(False, "--bf16", help="bf16 autocast for SAM and M2M."),
    workers: int = typer.Option(4, "--workers", help="Data-loading worker processes."),
    checkpoint_every: int = typer.Option(1_000, "--checkpoint-every", help="Steps per save."),
    val_every: int = typer.Option(1_000, "--val-every", help="Steps per validation."),
    log_every: int = typer.Option(10, "--log-every", help="Steps per log row."),
    seed: int = typer.Option(0, "--seed", help="Random seed."),
    resume: bool = typer.Option(False, "--resume", help="Continue the run in the output folder."),
) -> None:
    """Train the Mask-to-Matte refiner; run under torchrun for several GPUs or nodes."""
    from mamcli.train.data import RootSpec
    from mamcli.train.loop import TrainConfig, train

    try:
        summary = train(
            TrainConfig(
                data_roots=[RootSpec.parse(text) for text in data_root],
                sam_checkpoint=sam_checkpoint,
                out_dir=out_dir,
                model=model,
                backgrounds=backgrounds,
                val_roots=val_root,
                val_split=val_split,
                steps=steps,
                warmup_steps=warmup_steps,
                batch_size=batch_size,
                lr=lr,
                crop_size=crop_size,
                augment=not no_augment,
                device=device,
                bf16=bf16,
                num_workers=workers,
                checkpoint_every=checkpoint_every,
                val_every=val_every,
                log_every=log_every,
                seed=seed,
                resume=resume,
            )
        )
    except MamError as error:
        fail(error)
    if summary.rank != 0:
        return
    if summary.val_sad is not None:
        typer.echo(
            f"step {summary.steps}: loss {summary.loss:.4f}, validation SAD {summary.val_sad:.3f} "
            f"(best {summary.best_sad:.3f}, SAM mask only {summary.baseline_sad:.3f})"
        )
    typer.echo(summary.out_dir / "last.pth")
