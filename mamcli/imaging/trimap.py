"""Trimaps (0 background, 128 unknown, 255 foreground) built from an alpha matte.

generate_trimap grows an unknown band around the GT for the evaluation's trimap metrics;
erosion_trimap shrinks the definite regions, as training does.
"""

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


def erosion_trimap(alpha: np.ndarray, width: int) -> np.ndarray:
    """A trimap from a [0, 1] float alpha: the definite regions (alpha >= 254/255 and
    alpha <= 1/255) eroded by an ellipse of size `width` stay 255 / 0, the rest is unknown."""
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (width, width))
    fg = cv2.erode((alpha >= 254 / 255).astype(np.uint8), kernel)
    bg = cv2.erode((alpha <= 1 / 255).astype(np.uint8), kernel)
    trimap = np.full(alpha.shape, UNKNOWN, dtype=np.uint8)
    trimap[fg > 0] = 255
    trimap[bg > 0] = 0
    return trimap


def trimap_from_mask(mask: np.ndarray, band_px: int) -> np.ndarray:
    """uint8 trimap (0 background, 128 unknown, 255 foreground) from a bool mask.

    Pixels within `band_px` of the mask boundary (on either side) are unknown.
    """
    m = mask.astype(np.uint8)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * band_px + 1, 2 * band_px + 1))
    grown = cv2.dilate(m, kernel, borderType=cv2.BORDER_REPLICATE)
    shrunk = cv2.erode(m, kernel, borderType=cv2.BORDER_REPLICATE)
    trimap = np.where(grown > 0, 128, 0).astype(np.uint8)
    trimap[shrunk > 0] = 255
    return trimap
