"""Boxes, one convention for all of mam: `(x0, y0, x1, y1)` pixel corners of the image as
displayed, x1/y1 exclusive (COCO's convention: columns 10..19 are x0 = 10, x1 = 20), and
clipping to [0, width] x [0, height]. Prompt formats convert to it when they are parsed
(mamcli/prompts/formats.py); SAM receives the numbers as they are.

The one exception is the benchmark protocol's box (`protocol_box`): the reference derives
box prompts from ground truth as inclusive [min x, min y, max x, max y] and gives those
numbers to SAM, so `mam prompts from-alpha` and training write exactly them.
"""

from __future__ import annotations

import numpy as np

Box = tuple[int, int, int, int]


def mask_extent(mask: np.ndarray) -> Box | None:
    """Exclusive corners of the True pixels of a 2-D mask; None when there are none."""
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(mask.any(axis=0))
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1


def protocol_box(mask: np.ndarray) -> Box | None:
    """The benchmark protocol's box of a mask: inclusive [min x, min y, max x, max y]."""
    extent = mask_extent(mask)
    if extent is None:
        return None
    x0, y0, x1, y1 = extent
    return x0, y0, x1 - 1, y1 - 1


def grow(box: Box, margin: int, width: int, height: int) -> Box:
    """`box` grown by `margin` pixels on every side, clipped to the image."""
    x0, y0, x1, y1 = box
    return (
        max(0, x0 - margin),
        max(0, y0 - margin),
        min(width, x1 + margin),
        min(height, y1 + margin),
    )
