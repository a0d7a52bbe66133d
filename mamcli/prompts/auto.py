"""Prompts for images that have none (`--auto`).

- `subject` (default): cut out the main subject. With SAM, its automatic mask generator
  proposes masks and the one with the best quality x size x centrality score gives the
  box; the classic engine takes the image minus a 5% margin as the box.
- `all`: every instance SAM's automatic mask generator finds, best first by predicted IoU
  times stability, up to `--max-instances` (needs SAM weights).
- `none`: report the image as skipped.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from mamcli.errors import MamError
from mamcli.results import Instance

if TYPE_CHECKING:
    from segment_anything import SamAutomaticMaskGenerator

AUTO_STRATEGIES = ("subject", "all", "none")
SUBJECT_MARGIN = 0.05


def _subject_score(proposal: dict, height: int, width: int) -> float:
    """Quality x sqrt(area share) x centrality: big, clean masks near the centre win."""
    x, y, w, h = proposal["bbox"]
    cx, cy = (x + w / 2) / width - 0.5, (y + h / 2) / height - 0.5
    centrality = 1.0 - min(1.0, float(np.hypot(cx, cy)) / 0.7071)
    area = proposal["area"] / (height * width)
    if area > 0.95:  # the whole frame is background, not a subject
        return 0.0
    quality = proposal["predicted_iou"] * proposal["stability_score"]
    return float(quality * np.sqrt(area) * (0.25 + 0.75 * centrality))


def _box(proposal: dict) -> tuple[float, float, float, float]:
    x, y, w, h = proposal["bbox"]
    return (float(x), float(y), float(x + w), float(y + h))


class AutoPrompter:
    """Makes instances for an image without prompts, with SAM when one is given."""

    def __init__(
        self, strategy: str, sam=None, max_instances: int = 5, points_per_side: int = 16
    ) -> None:
        if strategy not in AUTO_STRATEGIES:
            raise MamError(f"unknown --auto {strategy!r}; choose {', '.join(AUTO_STRATEGIES)}")
        if strategy == "all" and sam is None:
            raise MamError(
                "--auto all needs SAM weights (the classic engine cannot find instances); "
                "use --auto subject or get the MAM weights (mam weights --help)"
            )
        self.strategy = strategy
        self.max_instances = max_instances
        self.sam = None if strategy == "none" else sam
        self.points_per_side = points_per_side
        self._generator: SamAutomaticMaskGenerator | None = None

    @property
    def generator(self) -> SamAutomaticMaskGenerator:
        """SAM's automatic mask generator, made on first use (it imports torchvision)."""
        if self._generator is None:
            from segment_anything import SamAutomaticMaskGenerator

            self._generator = SamAutomaticMaskGenerator(
                self.sam, points_per_side=self.points_per_side
            )
        return self._generator

    def instances(self, rgb: np.ndarray) -> list[Instance]:
        """The instances to matte (empty for `none`, or when SAM proposes nothing)."""
        if self.strategy == "none":
            return []
        height, width = rgb.shape[:2]
        if self.sam is None:
            mx, my = width * SUBJECT_MARGIN, height * SUBJECT_MARGIN
            return [Instance(id="subject", box=(mx, my, width - mx, height - my))]
        proposals = self.generator.generate(rgb)
        if self.strategy == "subject":
            scored = [(p, _subject_score(p, height, width)) for p in proposals]
            scored = [item for item in scored if item[1] > 0]
            if not scored:
                return []
            best = max(scored, key=lambda item: item[1])[0]
            return [Instance(id="subject", box=_box(best))]
        ranked = sorted(
            proposals, key=lambda p: p["predicted_iou"] * p["stability_score"], reverse=True
        )
        return [
            Instance(id=str(i), box=_box(p)) for i, p in enumerate(ranked[: self.max_instances])
        ]
