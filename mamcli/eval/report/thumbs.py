"""Small encoded pictures for the HTML report: image, GT, prediction and error heat map."""

from __future__ import annotations

import math

import cv2
import numpy as np

THUMB_SIZE = 224


def _shrink(image: np.ndarray, size: int) -> np.ndarray:
    h, w = image.shape[:2]
    scale = size / max(h, w)
    if scale >= 1:
        return image
    new_size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return cv2.resize(image, new_size, interpolation=cv2.INTER_AREA)


def _encode(image: np.ndarray, ext: str) -> bytes:
    params = [cv2.IMWRITE_JPEG_QUALITY, 85] if ext == ".jpg" else []
    ok, data = cv2.imencode(ext, image, params)
    if not ok:
        raise ValueError(f"cannot encode a {ext} thumbnail")
    return data.tobytes()


def _colour(fraction: np.ndarray) -> np.ndarray:
    """BGR inferno colours of errors given as a fraction of the largest one (square-root
    scale, so that small errors show too)."""
    scaled = np.sqrt(np.clip(fraction, 0.0, 1.0)) * 255.0
    return cv2.applyColorMap(np.rint(scaled).astype(np.uint8), cv2.COLORMAP_INFERNO)


def heat_map(pred: np.ndarray, gt: np.ndarray, size: int = THUMB_SIZE) -> np.ndarray:
    """|p - g| as a BGR heat map no larger than `size`, black 0 to yellow the image's own
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
    return _encode(np.repeat(row, height, axis=0), ".png")


def make_thumbnails(
    gt: np.ndarray, pred: np.ndarray, image_rgb: np.ndarray | None, size: int = THUMB_SIZE
) -> dict[str, bytes]:
    """Encoded thumbnails: "gt", "pred" (grey PNG), "error" (JPEG heat map) and, when the
    image is given, "image" (JPEG). Keys map to encoded bytes."""
    thumbs = {
        "gt": _encode(_shrink(gt, size), ".png"),
        "pred": _encode(_shrink(pred, size), ".png"),
        "error": _encode(heat_map(pred, gt, size), ".jpg"),
    }
    if image_rgb is not None:
        bgr = cv2.cvtColor(image_rgb, cv2.COLOR_RGB2BGR)
        thumbs["image"] = _encode(_shrink(bgr, size), ".jpg")
    return thumbs
