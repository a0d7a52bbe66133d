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


def heat_map(pred: np.ndarray, gt: np.ndarray, size: int = THUMB_SIZE) -> np.ndarray:
    """|p - g| as a BGR inferno heat map no larger than `size`: each thumbnail pixel shows
    the largest error of the block it covers (so thin edge errors stay visible), on a
    square-root scale (black 0, yellow 255) so that small errors show too."""
    diff = cv2.absdiff(pred, gt)
    block = math.ceil(max(diff.shape) / size)
    if block > 1:
        diff = cv2.dilate(diff, np.ones((block, block), np.uint8))
    diff = _shrink(diff, size)
    scaled = np.sqrt(diff.astype(np.float32) / 255.0) * 255.0
    return cv2.applyColorMap(np.rint(scaled).astype(np.uint8), cv2.COLORMAP_INFERNO)


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
