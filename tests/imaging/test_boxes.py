"""The one box convention: exclusive corners; the protocol box is the inclusive exception."""

from __future__ import annotations

import numpy as np

from mamcli.imaging.boxes import grow, mask_extent, protocol_box


def test_extent_is_exclusive_and_protocol_box_inclusive() -> None:
    mask = np.zeros((8, 12), bool)
    mask[2:5, 3:10] = True  # rows 2..4, columns 3..9
    assert mask_extent(mask) == (3, 2, 10, 5)
    assert protocol_box(mask) == (3, 2, 9, 4)
    assert mask_extent(np.zeros((4, 4), bool)) is None
    assert protocol_box(np.zeros((4, 4), bool)) is None


def test_grow_clips_to_the_image_not_to_the_last_pixel() -> None:
    assert grow((3, 2, 10, 5), 2, 12, 8) == (1, 0, 12, 7)
    assert grow((0, 0, 12, 8), 5, 12, 8) == (0, 0, 12, 8)
