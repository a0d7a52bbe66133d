"""`TrainConfig`: the one declaration of every `mam train` option.

Each field is declared with `mamcli.options.option` (default, flag, help, panel, choices,
check), like `mam matte`'s; the CLI flags and their validation are generated from it
(mamcli/cli/options.py), so nothing is declared twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mamcli.errors import MamError
from mamcli.model.config import BACKBONES, TRAIN_PRECISION_CHOICES
from mamcli.options import Resume, at_least, option, validate

PRECISION_CHOICES = TRAIN_PRECISION_CHOICES
_RUN = Resume.RUN  # training has no resume fingerprint: every option is a run option


def _fraction(value: float) -> str | None:
    return None if 0 <= value < 1 else f"must be in [0, 1), got {value}"


def _positive(value: float) -> str | None:
    return None if value > 0 else f"must be > 0, got {value}"


def _betas(value: tuple[float, ...]) -> str | None:
    return None if all(0 <= b < 1 for b in value) else f"each must be in [0, 1), got {value}"


def _some(value: list[Any]) -> str | None:
    return None if value else "give at least one"


@dataclass(frozen=True)
class RootSpec:
    """A data root and its sampling weight (None: proportional to its size)."""

    path: Path
    weight: float | None = None

    @classmethod
    def parse(cls, text: str) -> RootSpec:
        """`DIR` or `DIR:WEIGHT` (the weight is a positive number)."""
        path, sep, weight = text.rpartition(":")
        if sep and path:
            try:
                value = float(weight)
            except ValueError:
                return cls(Path(text))
            if not value > 0:
                raise MamError(f"--data-root {text}: the weight must be a positive number")
            return cls(Path(path), value)
        return cls(Path(text))


@dataclass
class TrainConfig:
    """Everything a run needs; the defaults are the Matting Anything paper's recipe."""

    data_roots: list[RootSpec] = option(
        flag="--data-root",
        parse=RootSpec.parse,
        check=_some,
        panel="Data",
        resume=_RUN,
        metavar="DIR[:WEIGHT]",
        required=True,
        help="Data folder (fg/+alpha/ or image/+alpha/), DIR or DIR:WEIGHT; repeatable.",
    )
    sam_checkpoint: Path = option(
        resume=_RUN, panel="Model", metavar="FILE", required=True, help="Frozen SAM weights."
    )
    out_dir: Path = option(
        flag="--output",
        short="-o",
        resume=_RUN,
        panel="Output",
        metavar="DIR",
        required=True,
        help="Run folder (checkpoints, log).",
    )
    model: str = option(
        "vit_b", choices=BACKBONES, resume=_RUN, panel="Model", help="SAM backbone."
    )
    backgrounds: Path | None = option(
        None,
        resume=_RUN,
        panel="Data",
        metavar="DIR",
        help="Backgrounds for fg/ roots (default: ROOT/bg).",
    )
    val_roots: list[Path] = option(
        factory=list,
        flag="--val-root",
        resume=_RUN,
        panel="Data",
        metavar="DIR",
        help="Validation folder(s); default: hold out --val-split.",
    )
    val_split: float = option(
        0.1, check=_fraction, resume=_RUN, panel="Data", help="Fraction held out per root."
    )
    crop_size: int | None = option(
        None,
        check=at_least(16),
        resume=_RUN,
        panel="Data",
        help="Crop side before resizing to SAM's size (default: SAM's size).",
    )
    augment: bool = option(
        True, resume=_RUN, panel="Data", help="Random affine, colour jitter, flip."
    )
    steps: int = option(
        20_000, check=at_least(1), resume=_RUN, panel="Schedule", help="Total optimiser steps."
    )
    warmup_steps: int = option(
        4_000, check=at_least(0), resume=_RUN, panel="Schedule", help="Linear lr warm-up steps."
    )
    batch_size: int = option(
        10, check=at_least(1), resume=_RUN, panel="Schedule", help="Crops per step per process."
    )
    lr: float = option(
        1e-3, check=_positive, resume=_RUN, panel="Schedule", help="Peak learning rate (Adam)."
    )
    betas: tuple[float, float] = option(
        (0.5, 0.999), check=_betas, resume=_RUN, panel="Schedule", help="Adam betas."
    )
    seed: int = option(0, resume=_RUN, panel="Schedule", help="Random seed.")
    device: str = option(
        "auto", resume=_RUN, panel="Performance", help="auto, cpu, cuda, cuda:N, mps."
    )
    precision: str = option(
        "auto",
        choices=PRECISION_CHOICES,
        resume=_RUN,
        panel="Performance",
        help="Autocast of SAM and M2M, as in `mam matte` (auto: bf16 where the device runs it "
        "fast, else fp32).",
    )
    num_workers: int = option(
        4,
        flag="--workers",
        check=at_least(0),
        resume=_RUN,
        panel="Performance",
        help="Data-loading worker processes.",
    )
    checkpoint_every: int = option(
        1_000, check=at_least(1), resume=_RUN, panel="Output", help="Steps per checkpoint."
    )
    val_every: int = option(
        1_000, check=at_least(1), resume=_RUN, panel="Output", help="Steps per validation."
    )
    log_every: int = option(
        10,
        check=at_least(1),
        resume=_RUN,
        panel="Output",
        help="Steps per log row (and progress line).",
    )
    resume: bool = option(
        False, resume=_RUN, panel="Output", help="Continue the run in the output folder."
    )

    def __post_init__(self) -> None:
        self.data_roots = [RootSpec.parse(r) if isinstance(r, str) else r for r in self.data_roots]
        self.val_roots = [Path(p) for p in self.val_roots]
        self.sam_checkpoint, self.out_dir = Path(self.sam_checkpoint), Path(self.out_dir)
        self.betas = tuple(self.betas)
        validate(self)
