"""Decode images to 8-bit RGB or to an 8-bit alpha matte, the way the image is displayed.

Decoding is strict on purpose: a truncated or corrupt file is an error naming the file,
never a silently grey-filled picture, and a header announcing a huge image is refused
before any pixel is decoded (decompression-bomb guard, `--max-pixels`).
"""

from __future__ import annotations

import contextlib
import os
import stat
import struct
import threading
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError

from mamcli.errors import InputError
from mamcli.imaging.limits import DEFAULT_MAX_PIXELS

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".webp", ".tif", ".tiff", ".bmp"})
# Pillow plugins we let open a file: never EPS (Ghostscript) or other exotic decoders,
# whatever the file's name says. (JPEG also opens MPO, the format of many camera JPEGs.)
_PILLOW_FORMATS = ("JPEG", "PNG", "WEBP", "TIFF", "BMP")
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, IndexError, struct.error, zlib.error)
_ORIENTATION_TAG = 0x0112
# EXIF orientation -> the transpose that shows the image upright (as ImageOps.exif_transpose).
_ORIENTATION_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
_ALPHA_NOTE = "existing alpha channel ignored"
ALPHA_CHANNEL_NOTE = "alpha channel used as the matte (an RGBA or grey+alpha file)"
# Channels of a grey matte saved as colour may differ this much (JPEG's chroma rounding).
GREY_TOLERANCE = 8
COLOUR_PROBLEM = "looks like a colour photo, not an alpha matte (its R, G and B differ)"
_open_lock = threading.Lock()


@dataclass
class LoadedImage:
    """A decoded image: rgb is uint8 H x W x 3, upright as displayed (EXIF applied).

    notes: one-line remarks on conversions worth telling the user (alpha dropped, frames
    skipped, ...); orig_mode: the Pillow mode of the file; exif_rotated: True when an EXIF
    orientation other than 'normal' was applied.
    """

    rgb: np.ndarray
    notes: list[str] = field(default_factory=list)
    orig_mode: str = "RGB"
    exif_rotated: bool = False


def load_rgb(path: str | os.PathLike, max_pixels: int = DEFAULT_MAX_PIXELS) -> LoadedImage:
    """Decode `path` to upright 8-bit RGB; raise InputError naming the file on any problem.

    16-bit data is scaled (round(x / 257)), not clipped; greyscale, palette and CMYK
    are converted to RGB; an alpha channel is dropped with a note (the colour is used,
    not composited); multi-frame files give their first frame.
    """
    notes: list[str] = []
    rgb, mode, orientation = _decode(path, max_pixels, notes, _decode_16bit_colour, _to_rgb)
    return LoadedImage(
        rgb=_upright(rgb, orientation),
        notes=notes,
        orig_mode=mode,
        exif_rotated=orientation in _ORIENTATION_TRANSPOSE,
    )


def read_rgb(path: str | os.PathLike, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Just the uint8 H x W x 3 pixels of load_rgb (notes dropped)."""
    return load_rgb(path, max_pixels).rgb


@dataclass
class LoadedAlpha:
    """A decoded alpha matte: alpha is uint8 H x W; notes as in LoadedImage."""

    alpha: np.ndarray
    notes: list[str] = field(default_factory=list)


def load_alpha(path: str | os.PathLike, max_pixels: int = DEFAULT_MAX_PIXELS) -> LoadedAlpha:
    """Decode an alpha matte (or trimap) to uint8 H x W; InputError naming the file otherwise.

    Grey is used as is; 16-bit is scaled by round(x / 257); a colour image whose three
    channels are equal (within GREY_TOLERANCE) is grey saved as RGB, their mean is used;
    one whose channels differ more is refused (a photo, not a matte). An alpha channel that
    is not fully opaque is the matte (a cut-out's), with a note; an opaque one is ignored.
    """
    notes: list[str] = []
    channels, _, orientation = _decode(path, max_pixels, notes, _decode_16bit, _matte_channels)
    alpha = _pick_matte(Path(path), channels, notes)
    return LoadedAlpha(_upright(alpha, orientation), notes)


def read_alpha(path: str | os.PathLike, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Just the uint8 H x W matte of load_alpha (notes dropped)."""
    return load_alpha(path, max_pixels).alpha


def is_image_file(path: Path) -> bool:
    """True for a file name with an image extension (case-insensitive), hidden files excepted."""
    return path.suffix.lower() in IMAGE_EXTENSIONS and not path.name.startswith(".")


def extension_list() -> str:
    """The supported image extensions, for messages."""
    return ", ".join(sorted(IMAGE_EXTENSIONS))


def _decode(
    path: str | os.PathLike,
    max_pixels: int,
    notes: list[str],
    wide: Callable[[Path, list[str]], np.ndarray],
    narrow: Callable[[Image.Image, list[str]], np.ndarray],
) -> tuple[np.ndarray, str, int]:
    """Check and open `path`, refuse too many pixels, decode the first frame with `wide`
    (16-bit colour) or `narrow` (anything else); (pixels, Pillow mode, EXIF orientation)."""
    path = Path(path)
    _check_file(path)
    with _open_image(path) as img:
        _check_pixels(path, img, max_pixels)
        frames = getattr(img, "n_frames", 1)
        if frames > 1 and img.format != "MPO":  # MPO: a camera JPEG with its preview
            notes.append(f"multi-frame file: using the first of {frames} frames")
        mode = img.mode
        try:
            if _has_16bit_colour(img):
                pixels = wide(path, notes)
            else:
                img.load()
                pixels = narrow(img, notes)
            orientation = _orientation(img)
        except _DECODE_ERRORS as exc:
            raise InputError(path, f"truncated or corrupt image data: {exc}") from None
    return pixels, mode, orientation


def _upright(pixels: np.ndarray, orientation: int) -> np.ndarray:
    """`pixels` turned as the EXIF orientation says, contiguous."""
    if orientation in _ORIENTATION_TRANSPOSE:
        transpose = _ORIENTATION_TRANSPOSE[orientation]
        pixels = np.asarray(Image.fromarray(pixels).transpose(transpose))
    return np.ascontiguousarray(pixels)


def _check_file(path: Path) -> None:
    """A regular, non-empty file (symlinks followed); a FIFO or device is never opened, so
    reading it cannot block."""
    try:
        info = path.stat()
    except FileNotFoundError:
        problem = "broken symbolic link" if path.is_symlink() else "no such file"
        raise InputError(path, problem) from None
    except OSError as exc:
        raise InputError(path, f"cannot read: {exc.strerror or exc}") from None
    if stat.S_ISDIR(info.st_mode):
        raise InputError(path, "is a folder, not an image file")
    if not stat.S_ISREG(info.st_mode):
        raise InputError(path, "not a regular file (a pipe, socket or device)")
    if info.st_size == 0:
        raise InputError(path, "empty file (0 bytes)")


def _check_pixels(path: Path, img: Image.Image, max_pixels: int) -> None:
    """Refuse a header announcing more than `max_pixels` pixels (decompression-bomb guard)."""
    width, height = img.size
    if width * height > max_pixels:
        raise InputError(
            path,
            f"image is {width} x {height} = {width * height} pixels, "
            f"over the --max-pixels limit {max_pixels}",
        )


@contextlib.contextmanager
def _open_image(path: Path) -> Iterator[Image.Image]:
    """Open (header only) with Pillow's own pixel limit off: load_rgb applies --max-pixels."""
    try:
        with _open_lock:
            saved = Image.MAX_IMAGE_PIXELS
            Image.MAX_IMAGE_PIXELS = None
            try:
                img = Image.open(path, formats=_PILLOW_FORMATS)
            finally:
                Image.MAX_IMAGE_PIXELS = saved
    except UnidentifiedImageError:
        raise InputError(
            path, "not an image file (cannot identify format; JPEG, PNG, WebP, TIFF, BMP)"
        ) from None
    except PermissionError as exc:
        raise InputError(path, f"cannot read: {exc.strerror}") from None
    except _DECODE_ERRORS as exc:
        raise InputError(path, f"truncated or corrupt image data: {exc}") from None
    with img:
        yield img


def _orientation(img: Image.Image) -> int:
    try:
        value = img.getexif().get(_ORIENTATION_TAG, 1)
    except _DECODE_ERRORS:
        return 1  # unreadable EXIF: show the pixels as stored
    return value if isinstance(value, int) else 1


def _to_rgb(img: Image.Image, notes: list[str]) -> np.ndarray:
    """Convert the loaded first frame to uint8 H x W x 3."""
    mode = img.mode
    if mode.startswith("I") or mode == "F":
        return _grey_to_rgb(_scale_wide(np.asarray(img), notes))
    if mode in ("RGBA", "RGBa", "LA", "La", "PA") or (mode == "P" and "transparency" in img.info):
        notes.append(_ALPHA_NOTE)
        img = img.convert("RGBA")
    if mode == "CMYK":
        notes.append("CMYK converted to RGB (colour profile not applied)")
    return np.asarray(img.convert("RGB"))


def _has_16bit_colour(img: Image.Image) -> bool:
    """Colour PNG/TIFF with 16 bits per channel, which Pillow reduces by dropping a byte.

    Checked before load(): the decoder's raw mode is only visible until then.
    """
    if img.mode not in ("RGB", "RGBA", "LA") or not img.tile:
        return False
    args = img.tile[0].args
    rawmode = args if isinstance(args, str) else args[0] if args else ""
    return isinstance(rawmode, str) and ";16" in rawmode


def _decode_16bit(path: Path, notes: list[str]) -> np.ndarray:
    """16-bit colour or grey+alpha as uint8 H x W x C, channels in RGB(A) / LA order."""
    data = np.frombuffer(path.read_bytes(), np.uint8)
    array = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    if array is None or array.dtype != np.uint16:
        raise InputError(path, "truncated or corrupt image data: cannot decode 16-bit colour")
    array = _scale_wide(array, notes)
    if array.ndim == 2:
        return array[..., None]
    if array.shape[2] >= 3:  # OpenCV's BGR(A) -> RGB(A)
        array[..., :3] = array[..., 2::-1].copy()
    return array


def _decode_16bit_colour(path: Path, notes: list[str]) -> np.ndarray:
    array = _decode_16bit(path, notes)
    if array.shape[2] in (2, 4):
        notes.append(_ALPHA_NOTE)
        array = array[..., :-1]
    if array.shape[2] == 1:
        return _grey_to_rgb(array[..., 0])
    return array


def _matte_channels(img: Image.Image, notes: list[str]) -> np.ndarray:
    """The loaded first frame as uint8 H x W (grey) or H x W x C (LA, RGB, RGBA)."""
    mode = img.mode
    if mode.startswith("I") or mode == "F":
        return _scale_wide(np.asarray(img), notes)
    if mode in ("L", "LA", "RGB", "RGBA"):
        return np.asarray(img)
    transparent = mode in ("RGBa", "La", "PA") or (mode == "P" and "transparency" in img.info)
    return np.asarray(img.convert("RGBA" if transparent else "RGB"))


def _pick_matte(path: Path, channels: np.ndarray, notes: list[str]) -> np.ndarray:
    """The matte inside decoded channels (see load_alpha)."""
    if channels.ndim == 2:
        return channels
    if channels.shape[2] in (2, 4):
        colour, alpha = channels[..., :-1], channels[..., -1]
        if (alpha != 255).any():
            notes.append(ALPHA_CHANNEL_NOTE)
            return alpha
    else:
        colour = channels
    if colour.shape[2] == 1:
        return colour[..., 0]
    spread = colour.max(axis=2).astype(np.int16) - colour.min(axis=2)
    if spread.max(initial=0) > GREY_TOLERANCE:
        raise InputError(path, COLOUR_PROBLEM)
    return np.round(colour.mean(axis=2)).astype(np.uint8)


def _scale_wide(array: np.ndarray, notes: list[str]) -> np.ndarray:
    """16-bit (or wider integer / float) samples -> uint8 by round(x / 257), not clipping.

    Float data is read as 0..1; 32-bit integers outside 0..65535 are clipped, with a note.
    """
    if array.dtype.kind == "f":
        notes.append("floating-point data read as 0..1")
        return np.round(np.clip(np.nan_to_num(array), 0.0, 1.0) * 255.0).astype(np.uint8)
    if array.min(initial=0) < 0 or array.max(initial=0) > 65535:
        notes.append("32-bit integer data clipped to the 16-bit range")
    wide = np.clip(array.astype(np.int64), 0, 65535)
    return ((wide * 2 + 257) // 514).astype(np.uint8)  # round(x / 257), halves up


def _grey_to_rgb(grey: np.ndarray) -> np.ndarray:
    return np.repeat(grey[..., None], 3, axis=2)
