"""Small encoded pictures for the HTML report: image, GT, prediction and error heat map."""

from __future__ import annotations

import math

import cv2
import numpy as np

from mamcli.imaging.write import encode_image

THUMB_SIZE = 224
JPEG_QUALITY = 85


def _shrink(image: np.ndarray, size: int) -> np.ndarray:
    h, w = image.shape[:2]
    scale = size / max(h, w)
    if scale >= 1:
        return image
    new_size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return cv2.resize(image, new_size, interpolation=cv2.INTER_AREA)


def _colour(fraction: np.ndarray) -> np.ndarray:
    """RGB inferno colours of errors given as a fraction of the largest one (square-root
    scale, so that small errors show too)."""
    scaled = np.sqrt(np.clip(fraction, 0.0, 1.0)) * 255.0
    bgr = cv2.applyColorMap(np.rint(scaled).astype(np.uint8), cv2.COLORMAP_INFERNO)
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def heat_map(pred: np.ndarray, gt: np.ndarray, size: int = THUMB_SIZE) -> np.ndarray:
    """|p - g| as an RGB heat map no larger than `size`, black 0 to yellow the image's own
    largest error: each thumbnail pixel shows the largest error of the block it covers
    (so thin edge errors stay visible)."""
    diff = cv2.absdiff(pred, gt)
    block = math.ceil(max(diff.shape) / size)
    if block > 1:
        diff = cv2.dilate(diff, np.ones((block, block), np.uint8))
    diff = _shrink(diff, size)
    return _colour(diff.astype(np.float32) / max(1, int(diff.max())))


def colour_bar(width: int = THUMB_SIZE, height: int = 12) -> bytes:
    """PNG of the heat map's legend, left 0 to right the largest error."""
    row = _colour(np.linspace(0.0, 1.0, width, dtype=np.float32)[None, :])
    return encode_image(np.repeat(row, height, axis=0), "png")


def make_thumbnails(
    gt: np.ndarray, pred: np.ndarray, image_rgb: np.ndarray | None, size: int = THUMB_SIZE
) -> dict[str, bytes]:
    """Encoded thumbnails: "gt", "pred" (grey PNG), "error" (JPEG heat map) and, when the
    image is given, "image" (JPEG). Keys map to encoded bytes."""
    thumbs = {
        "gt": encode_image(_shrink(gt, size), "png"),
        "pred": encode_image(_shrink(pred, size), "png"),
        "error": encode_image(heat_map(pred, gt, size), "jpg", JPEG_QUALITY),
    }
    if image_rgb is not None:
        thumbs["image"] = encode_image(_shrink(image_rgb, size), "jpg", JPEG_QUALITY)
    return thumbs
