"""Finding and reading alpha mattes, trimaps and images for evaluation.

Files are matched across folders by their path relative to the root without the extension,
so `gt/sub/a.png` pairs with `pred/sub/a.jpg`.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from mamcli.errors import InputError, MamError

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")


def is_image(path: Path) -> bool:
    """True for a file with an image extension (case-insensitive), hidden files excepted."""
    return path.suffix.lower() in IMAGE_EXTENSIONS and not path.name.startswith(".")


def existing_dir(path: str | Path, what: str) -> Path:
    """`path` as a Path; MamError naming it when it is not a folder."""
    path = Path(path)
    if not path.is_dir():
        raise MamError(f"{path}: {what} folder not found")
    return path


def stem_key(rel: Path) -> str:
    """The matching key of a relative path: POSIX path without the extension."""
    return rel.with_suffix("").as_posix()


def index_files(root: Path) -> tuple[dict[str, Path], list[str]]:
    """Map stem key -> file for every image under `root` (recursive).

    Returns the map and the keys that are ambiguous (two files with the same stem, such
    as `a.png` and `a.jpg`); ambiguous keys are left out of the map.
    """
    found: dict[str, list[Path]] = {}
    for path in sorted(root.rglob("*")):
        if path.is_file() and is_image(path):
            found.setdefault(stem_key(path.relative_to(root)), []).append(path)
    ambiguous = sorted(key for key, paths in found.items() if len(paths) > 1)
    return {key: paths[0] for key, paths in found.items() if len(paths) == 1}, ambiguous


def index_instance_dirs(root: Path) -> dict[str, list[Path]]:
    """Map folder key -> its instance alpha files, for every folder under `root` that
    directly holds images (one folder per image, one file per instance)."""
    found: dict[str, list[Path]] = {}
    for path in sorted(root.rglob("*")):
        if path.is_file() and is_image(path):
            found.setdefault(path.parent.relative_to(root).as_posix(), []).append(path)
    return found


def _read(path: Path) -> np.ndarray:
    try:
        data = np.fromfile(path, dtype=np.uint8)
    except OSError as exc:
        raise InputError(path, f"cannot read file ({exc.strerror})") from exc
    image = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
    if image is None:
        raise InputError(path, "not a readable image")
    return image


def to_uint8(image: np.ndarray) -> np.ndarray:
    """8-bit copy of an image: 16-bit values become round(x / 257), floats (assumed in
    [0, 1]) become round(255 x)."""
    if image.dtype == np.uint8:
        return image
    if image.dtype == np.uint16:
        return ((image.astype(np.uint32) + 128) // 257).astype(np.uint8)
    if image.dtype.kind == "f":
        return np.rint(np.clip(image, 0.0, 1.0) * 255.0).astype(np.uint8)
    raise ValueError(f"unsupported pixel type {image.dtype}")


def read_alpha(path: Path) -> np.ndarray:
    """Read an alpha matte (or trimap) as uint8 H x W.

    Grey images are used as they are; for RGB the red channel is used (an alpha saved
    as RGB has three equal channels); for RGBA, the A channel (a cut-out's matte).
    """
    image = _read(path)
    try:
        image = to_uint8(image)
    except ValueError as exc:
        raise InputError(path, str(exc)) from exc
    if image.ndim == 3:
        channels = image.shape[2]
        image = image[:, :, 3] if channels == 4 else image[:, :, 2 if channels >= 3 else 0]
    return np.ascontiguousarray(image)


def read_rgb(path: Path) -> np.ndarray:
    """Read an image as uint8 RGB H x W x 3 (for report thumbnails)."""
    image = to_uint8(_read(path))
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
    code = cv2.COLOR_BGRA2RGB if image.shape[2] == 4 else cv2.COLOR_BGR2RGB
    return cv2.cvtColor(image, code)
