"""Where `mam matte` writes, and how: the output tree and atomic image writes.

OUT/alpha/<rel dir>/<stem>.png          the image's alpha (instances merged)
OUT/alpha/<rel dir>/<stem>/<id>.png     one alpha per instance (several instances only)
OUT/cutout/<rel dir>/<stem>.png         RGBA cut-out
OUT/composite/<rel dir>/<stem>.<ext>    composite over the background
OUT/mask/<rel dir>/<stem>.png           the segmentation mask
OUT/.mam/records/<rel dir>/<stem>.json  per-image record (resume state, manifest line)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import cv2
import numpy as np

from mamcli.errors import MamError
from mamcli.runtime.atomic import atomic_write_bytes


@dataclass(frozen=True)
class OutputLayout:
    """Paths under the output folder for one input path `rel` (relative, '/'-separated)."""

    root: Path

    def _inside(self, path: Path) -> Path:
        resolved_root = self.root.resolve()
        if not path.resolve().is_relative_to(resolved_root):
            raise MamError(f"refusing to write outside the output folder: {path}")
        return path

    def _path(self, kind: str, rel: PurePosixPath, suffix: str) -> Path:
        return self._inside(self.root / kind / rel.parent / f"{rel.stem}{suffix}")

    def alpha(self, rel: PurePosixPath) -> Path:
        return self._path("alpha", rel, ".png")

    def instance_alpha(self, rel: PurePosixPath, instance_id: str) -> Path:
        return self._inside(self.root / "alpha" / rel.parent / rel.stem / f"{instance_id}.png")

    def cutout(self, rel: PurePosixPath) -> Path:
        return self._path("cutout", rel, ".png")

    def composite(self, rel: PurePosixPath, fmt: str) -> Path:
        return self._path("composite", rel, f".{fmt}")

    def mask(self, rel: PurePosixPath) -> Path:
        return self._path("mask", rel, ".png")

    def record(self, rel: PurePosixPath) -> Path:
        return self._path(".mam/records", rel, ".json")

    @property
    def records_root(self) -> Path:
        return self.root / ".mam" / "records"


def encode_image(array: np.ndarray, fmt: str, quality: int = 95) -> bytes:
    """Encode an RGB(A) or grey uint8/uint16 array as PNG, JPEG or WebP bytes."""
    if array.ndim == 3:
        code = cv2.COLOR_RGBA2BGRA if array.shape[2] == 4 else cv2.COLOR_RGB2BGR
        array = cv2.cvtColor(array, code)
    params = {
        "png": [cv2.IMWRITE_PNG_COMPRESSION, 3],
        "jpg": [cv2.IMWRITE_JPEG_QUALITY, quality],
        "webp": [cv2.IMWRITE_WEBP_QUALITY, quality],
    }[fmt]
    ok, data = cv2.imencode(f".{fmt}", array, params)
    if not ok:
        raise MamError(f"could not encode a {array.shape} image as {fmt}")
    return data.tobytes()


def alpha_to_uint(alpha: np.ndarray, depth: int = 8) -> np.ndarray:
    """Quantise a [0, 1] alpha to 8 or 16 bits (rounded)."""
    if depth not in (8, 16):
        raise MamError(f"alpha depth must be 8 or 16, got {depth}")
    top = 255 if depth == 8 else 65535
    dtype = np.uint8 if depth == 8 else np.uint16
    return np.rint(np.clip(alpha, 0.0, 1.0) * top).astype(dtype)


def write_image(path: Path, array: np.ndarray, fmt: str = "png") -> None:
    """Encode and write atomically (temp file, then rename)."""
    atomic_write_bytes(path, encode_image(array, fmt))
