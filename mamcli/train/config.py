"""`TrainConfig`: the one declaration of every `mam train` option.

Each field carries its default, its flag(s), its help line and its help panel (metadata);
`__post_init__` validates it with one line naming the flag. The CLI builds its options
from these fields, so nothing is declared twice.
"""

from __future__ import annotations

from dataclasses import MISSING, Field, dataclass, field, fields
from pathlib import Path
from typing import Any

from mamcli.errors import MamError, UsageError
from mamcli.model.config import BACKBONES, TRAIN_PRECISION_CHOICES

PRECISION_CHOICES = TRAIN_PRECISION_CHOICES


def meta(flags: str | tuple[str, ...], panel: str, help: str) -> dict[str, Any]:
    """A field's CLI side: its flag(s), help panel and help line."""
    flags = (flags,) if isinstance(flags, str) else flags
    return {"flags": flags, "panel": panel, "help": help}


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

    data_roots: list[RootSpec] = field(
        metadata=meta(
            "--data-root", "Data", "Data folder (fg/+alpha/ or image/+alpha/), DIR or DIR:WEIGHT."
        )
    )
    sam_checkpoint: Path = field(metadata=meta("--sam-checkpoint", "Model", "Frozen SAM weights."))
    out_dir: Path = field(
        metadata=meta(("-o", "--output"), "Output", "Run folder (checkpoints, log).")
    )
    model: str = field(
        default="vit_b", metadata=meta("--model", "Model", f"SAM backbone: {', '.join(BACKBONES)}.")
    )
    backgrounds: Path | None = field(
        default=None,
        metadata=meta("--backgrounds", "Data", "Backgrounds for fg/ roots (default: ROOT/bg)."),
    )
    val_roots: list[Path] = field(
        default_factory=list,
        metadata=meta("--val-root", "Data", "Validation folder(s); default: hold out --val-split."),
    )
    val_split: float = field(
        default=0.1, metadata=meta("--val-split", "Data", "Fraction held out per root, in [0, 1).")
    )
    crop_size: int | None = field(
        default=None,
        metadata=meta(
            "--crop-size", "Data", "Crop side before resizing to SAM's size (default: SAM's size)."
        ),
    )
    augment: bool = field(
        default=True,
        metadata=meta("--augment/--no-augment", "Data", "Random affine, colour jitter, flip."),
    )
    steps: int = field(
        default=20_000, metadata=meta("--steps", "Schedule", "Total optimiser steps.")
    )
    warmup_steps: int = field(
        default=4_000, metadata=meta("--warmup-steps", "Schedule", "Linear lr warm-up steps.")
    )
    batch_size: int = field(
        default=10, metadata=meta("--batch-size", "Schedule", "Crops per step per process.")
    )
    lr: float = field(default=1e-3, metadata=meta("--lr", "Schedule", "Peak learning rate (Adam)."))
    betas: tuple[float, float] = field(
        default=(0.5, 0.999), metadata=meta("--betas", "Schedule", "Adam betas.")
    )
    seed: int = field(default=0, metadata=meta("--seed", "Schedule", "Random seed."))
    device: str = field(
        default="auto", metadata=meta("--device", "Performance", "auto, cpu, cuda, cuda:N, mps.")
    )
    precision: str = field(
        default="auto",
        metadata=meta(
            "--precision",
            "Performance",
            f"{', '.join(PRECISION_CHOICES)}: autocast of SAM and M2M, as in `mam matte` "
            "(auto: bf16 where the device runs it fast, else fp32).",
        ),
    )
    num_workers: int = field(
        default=4, metadata=meta("--workers", "Performance", "Data-loading worker processes.")
    )
    checkpoint_every: int = field(
        default=1_000, metadata=meta("--checkpoint-every", "Output", "Steps per checkpoint.")
    )
    val_every: int = field(
        default=1_000, metadata=meta("--val-every", "Output", "Steps per validation.")
    )
    log_every: int = field(
        default=10, metadata=meta("--log-every", "Output", "Steps per log row (and progress line).")
    )
    resume: bool = field(
        default=False, metadata=meta("--resume", "Output", "Continue the run in the output folder.")
    )

    def __post_init__(self) -> None:
        self.data_roots = list(self.data_roots)
        self.val_roots = [Path(p) for p in self.val_roots]
        self.sam_checkpoint, self.out_dir = Path(self.sam_checkpoint), Path(self.out_dir)
        checks = [
            ("data_roots", bool(self.data_roots), "give at least one"),
            ("model", self.model in BACKBONES, f"choose one of {', '.join(BACKBONES)}"),
            (
                "precision",
                self.precision in PRECISION_CHOICES,
                f"choose one of {', '.join(PRECISION_CHOICES)}",
            ),
            ("val_split", 0 <= self.val_split < 1, "must be in [0, 1)"),
            ("crop_size", self.crop_size is None or self.crop_size >= 16, "must be >= 16"),
            ("steps", self.steps >= 1, "must be >= 1"),
            ("warmup_steps", self.warmup_steps >= 0, "must be >= 0"),
            ("batch_size", self.batch_size >= 1, "must be >= 1"),
            ("lr", self.lr > 0, "must be > 0"),
            ("betas", all(0 <= b < 1 for b in self.betas), "each must be in [0, 1)"),
            ("num_workers", self.num_workers >= 0, "must be >= 0"),
            ("checkpoint_every", self.checkpoint_every >= 1, "must be >= 1"),
            ("val_every", self.val_every >= 1, "must be >= 1"),
            ("log_every", self.log_every >= 1, "must be >= 1"),
        ]
        for name, ok, problem in checks:
            if not ok:
                value = getattr(self, name)
                raise UsageError(f"{flag(name)} {value!r}: {problem}")


def config_field(name: str) -> Field:
    """The dataclass field of option `name`."""
    return next(f for f in fields(TrainConfig) if f.name == name)


def flag(name: str) -> str:
    """The long flag of option `name` (for messages): "--batch-size"."""
    return config_field(name).metadata["flags"][-1].split("/")[0]


def default(name: str) -> Any:
    """The default of option `name`; `...` (required) when it has none."""
    spec = config_field(name)
    if spec.default is not MISSING:
        return spec.default
    if spec.default_factory is not MISSING:
        return spec.default_factory()
    return ...
