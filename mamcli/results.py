"""Plain result types shared by the engines, the pipeline and the writers."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # only in annotations: the CLI checks options without numpy
    import numpy as np


@dataclass
class Instance:
    """One object to cut out: a box and/or points (original pixels), or a text query.

    box is [x0, y0, x1, y1]; points are (x, y) with labels 1 (foreground) or 0 (background).
    """

    id: str | None = None
    box: tuple[float, float, float, float] | None = None
    points: list[tuple[float, float]] = field(default_factory=list)
    point_labels: list[int] = field(default_factory=list)
    text: str | None = None


@dataclass
class InstanceMatte:
    """The matte of one instance, at the image's original size.

    alpha: float32 H x W in [0, 1]; mask: the segmentation the matte grew from (bool H x W);
    score: the segmenter's confidence (SAM's predicted IoU); scales: the raw multi-scale
    outputs (name -> float32 H x W) when asked for; warning: set when something degraded
    (for example an empty SAM mask, which gives an all-zero alpha).
    """

    alpha: np.ndarray
    mask: np.ndarray
    score: float = 1.0
    scales: dict[str, np.ndarray] | None = None
    warning: str | None = None


@dataclass(frozen=True)
class ImageItem:
    """One input image: its path, the input root it was found under and its path there.

    `rel` (always '/'-separated) is what output names are built from; for a file given
    directly, root is its folder and rel its name.
    """

    path: Path
    root: Path
    rel: PurePosixPath
