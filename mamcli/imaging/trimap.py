"""Trimaps for the "_tri" metrics: the unknown region of a given trimap, or a generated one."""

from __future__ import annotations

import cv2
import numpy as np

UNKNOWN = 128
DEFAULT_BAND = 10


def unknown_region(trimap: np.ndarray) -> np.ndarray:
    """Boolean mask of the trimap's unknown pixels (value exactly 128)."""
    return trimap == UNKNOWN


def generate_trimap(gt: np.ndarray, band: int = DEFAULT_BAND) -> np.ndarray:
    """A trimap from a GT alpha: the nonzero-alpha region dilated by `band` pixels (an
    elliptical kernel of size 2 band + 1) is unknown (128), except where alpha = 255
    (foreground, 255); the rest is background (0)."""
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * band + 1, 2 * band + 1))
    grown = cv2.dilate((gt > 0).astype(np.uint8), kernel) > 0
    trimap = np.where(grown, UNKNOWN, 0).astype(np.uint8)
    trimap[gt == 255] = 255
    return trimap
