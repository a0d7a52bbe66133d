"""Turning an alpha matte into pictures: cut-outs, composites, crops and previews.

Alphas may be float in [0, 1] or uint8; colour images are uint8 RGB (foregrounds from
estimate_foreground are float32 in [0, 1]). Full-size passes run in row strips, so a
huge image costs a few bytes per pixel of temporary memory.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from mamcli.engines.closed_form import row_strips, to_working, upsample_rows
from mamcli.errors import InputError
from mamcli.imaging.boxes import grow, mask_extent
from mamcli.imaging.colours import parse_colour
from mamcli.imaging.read import is_image_file, read_rgb


def _unit(x: np.ndarray) -> np.ndarray:
    """float32 in [0, 1] from a uint8 or float array."""
    if x.dtype == np.uint8:
        return x.astype(np.float32) * np.float32(1 / 255)
    return x.astype(np.float32, copy=False)


def _to_uint8(x: np.ndarray) -> np.ndarray:
    """uint8 from a uint8 or [0, 1] float array (rounded), strip by strip."""
    if x.dtype == np.uint8:
        return x
    out = np.empty(x.shape, np.uint8)
    for y0, y1 in row_strips(x.shape[0], x.shape[1]):
        out[y0:y1] = np.clip(x[y0:y1] * 255 + 0.5, 0, 255).astype(np.uint8)
    return out


def estimate_foreground(rgb: np.ndarray, alpha: np.ndarray, working_size: int = 1024) -> np.ndarray:
    """Foreground colours (float32 H x W x 3 in [0, 1]) without the background's bleed.

    pymatting's multi-level estimate_foreground_ml (Germer et al.) runs on an image whose
    long side is at most `working_size`. For bigger images the correction it makes
    (foreground minus image) is smooth, so it is upsampled and added to the full image:
    opaque pixels keep their full-resolution colour exactly.
    """
    from pymatting import estimate_foreground_ml  # numba-heavy: imported when used

    small = to_working(rgb, working_size)
    a_small = to_working(_unit(alpha), working_size)
    image_small = small.astype(np.float64) / 255.0
    fg_small = estimate_foreground_ml(image_small, a_small.astype(np.float64))
    if small.shape == rgb.shape:
        return np.clip(fg_small, 0, 1).astype(np.float32)
    correction = (fg_small - image_small).astype(np.float32)
    h, w = rgb.shape[:2]
    out = np.empty((h, w, 3), np.float32)
    for y0, y1 in row_strips(h, w):
        fg = _unit(rgb[y0:y1]) + upsample_rows(correction, (h, w), y0, y1)
        out[y0:y1] = np.clip(fg, 0, 1)
    return out


def cutout_rgba(
    rgb: np.ndarray, alpha: np.ndarray, foreground: np.ndarray | None = None
) -> np.ndarray:
    """uint8 H x W x 4 straight-alpha cut-out: the foreground colours (or the image) + alpha."""
    h, w = rgb.shape[:2]
    out = np.empty((h, w, 4), np.uint8)
    out[..., :3] = rgb if foreground is None else _to_uint8(foreground)
    out[..., 3] = _to_uint8(alpha)
    return out


def cover_resize(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """`image` scaled to cover `size` (height, width), then centre-cropped to it."""
    h, w = size
    ih, iw = image.shape[:2]
    scale = max(h / ih, w / iw)
    nh, nw = max(h, round(ih * scale)), max(w, round(iw * scale))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    resized = cv2.resize(image, (nw, nh), interpolation=interp)
    top, left = (nh - h) // 2, (nw - w) // 2
    return np.ascontiguousarray(resized[top : top + h, left : left + w])


def load_background(spec: str, size: tuple[int, int], key: str = "") -> np.ndarray:
    """uint8 RGB background of `size` (height, width) from a colour, an image or a folder.

    A folder gives one of its images (sorted by name), picked by a hash of `key` (the
    image's relative path), so each image always gets the same background.
    """
    path = Path(spec)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.is_file() and is_image_file(p))
        if not files:
            raise InputError(spec, "no images in this background folder")
        index = int.from_bytes(hashlib.sha256(key.encode("utf-8")).digest()[:8], "big")
        path = files[index % len(files)]
    if path.is_file():
        return cover_resize(read_rgb(path), size)
    colour = parse_colour(spec)
    if colour is None:
        raise InputError(
            spec, "background is not a colour (name, #rrggbb, r,g,b), an image or a folder"
        )
    return np.full((*size, 3), colour, np.uint8)


def composite(foreground: np.ndarray, alpha: np.ndarray, background: np.ndarray) -> np.ndarray:
    """uint8 RGB alpha * foreground + (1 - alpha) * background (image or [0, 1] colours)."""
    h, w = alpha.shape[:2]
    out = np.empty((h, w, 3), np.uint8)
    for y0, y1 in row_strips(h, w):
        a = _unit(alpha[y0:y1])[..., None]
        mixed = a * _unit(foreground[y0:y1]) + (1 - a) * _unit(background[y0:y1])
        out[y0:y1] = np.clip(mixed * 255 + 0.5, 0, 255).astype(np.uint8)
    return out


def crop_box(alpha: np.ndarray, margin: int = 0) -> tuple[int, int, int, int] | None:
    """Box (x0, y0, x1, y1; x1/y1 exclusive) of the pixels with alpha > 0 (as uint8), grown
    by `margin` pixels and clipped to the image; None for an empty alpha."""
    visible = alpha > 0 if alpha.dtype == np.uint8 else alpha >= 0.5 / 255
    extent = mask_extent(visible)
    if extent is None:
        return None
    return grow(extent, margin, alpha.shape[1], alpha.shape[0])


def checkerboard(h: int, w: int, cell: int = 16) -> np.ndarray:
    """uint8 RGB light-grey checkerboard, the usual backdrop for transparency."""
    ys, xs = np.arange(h)[:, None] // cell, np.arange(w)[None, :] // cell
    grey = np.where((ys + xs) % 2 == 0, 235, 190).astype(np.uint8)
    return np.repeat(grey[..., None], 3, axis=2)


def _fit(image: np.ndarray, tile: tuple[int, int]) -> np.ndarray:
    """`image` (RGB uint8) scaled to fit inside `tile` (height, width), centred on dark grey."""
    th, tw = tile
    ih, iw = image.shape[:2]
    scale = min(th / ih, tw / iw)
    nh, nw = max(1, round(ih * scale)), max(1, round(iw * scale))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    out = np.full((th, tw, 3), 40, np.uint8)
    top, left = (th - nh) // 2, (tw - nw) // 2
    out[top : top + nh, left : left + nw] = cv2.resize(image, (nw, nh), interpolation=interp)
    return out


SHEET_LABELS = ("image", "alpha", "cut-out", "composite")


def contact_sheet(
    rows: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]],
    tile: tuple[int, int] = (180, 240),
) -> np.ndarray:
    """uint8 RGB grid: per row image | alpha | cut-out on a checkerboard | composite.

    Every cell is `tile` (height, width) with the picture fitted inside; a header row
    names the columns.
    """
    tw = tile[1]
    header = np.full((24, tw * 4, 3), 25, np.uint8)
    for i, label in enumerate(SHEET_LABELS):
        cv2.putText(header, label, (i * tw + 8, 17), cv2.FONT_HERSHEY_SIMPLEX, 0.5,
                    (235, 235, 235), 1, cv2.LINE_AA)  # fmt: skip
    lines = [header]
    for image, alpha, cutout, comp in rows:
        h, w = image.shape[:2]
        grey = np.repeat(_to_uint8(alpha)[..., None], 3, axis=2)
        on_checks = composite(cutout[..., :3], cutout[..., 3], checkerboard(h, w))
        cells = [_fit(x, tile) for x in (image, grey, on_checks, comp)]
        lines.append(np.concatenate(cells, axis=1))
    return np.concatenate(lines, axis=0)
