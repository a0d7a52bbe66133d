"""Where `mam matte` writes, and how: the output tree and atomic image writes.

OUT/alpha/<rel dir>/<name>.png          the image's alpha (instances merged)
OUT/alpha/<rel dir>/<name>/<id>.png     one alpha per instance (several instances only)
OUT/cutout/<rel dir>/<name>.png         RGBA cut-out
OUT/composite/<rel dir>/<name>.<ext>    composite over the background
OUT/mask/<rel dir>/<name>.png           the segmentation mask
OUT/.mam/records/<rel dir>/<name>.json  per-image record (resume state, manifest line)
OUT/.mam/output                         marks the folder as mam's output (never an input)

<name> is the input's stem, unless it would collide with another input's outputs in the
same folder (see mamcli.matte.inputs.output_names); docs/reliability.md explains.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import cv2
import numpy as np

from mamcli.errors import MamError, OutputError
from mamcli.runtime.atomic import atomic_write_bytes, atomic_write_text, remove_stale_temps

# Present in every output folder; find_images skips folders holding it.
OUTPUT_MARKER = PurePosixPath(".mam/output")


@dataclass(frozen=True)
class OutputLayout:
    """Paths under the output folder for one input path `rel` (relative, '/'-separated).

    `names` maps the inputs whose stem collides to the output name they get instead.
    """

    root: Path
    names: dict[PurePosixPath, str] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        # absolute: records name their outputs so that any later working folder finds them
        object.__setattr__(self, "root", Path(os.path.abspath(self.root)))

    def _inside(self, path: Path) -> Path:
        resolved_root = self.root.resolve()
        if not path.resolve().is_relative_to(resolved_root):
            raise MamError(f"refusing to write outside the output folder: {path}")
        return path

    def name(self, rel: PurePosixPath) -> str:
        """The output name (no extension) of input `rel`."""
        return self.names.get(rel, rel.stem)

    def _path(self, kind: str, rel: PurePosixPath, suffix: str) -> Path:
        return self._inside(self.root / kind / rel.parent / f"{self.name(rel)}{suffix}")

    def alpha(self, rel: PurePosixPath) -> Path:
        return self._path("alpha", rel, ".png")

    def instance_alpha(self, rel: PurePosixPath, instance_id: str) -> Path:
        folder = self.root / "alpha" / rel.parent / self.name(rel)
        return self._inside(folder / f"{instance_id}.png")

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

    @property
    def marker(self) -> Path:
        return self.root / OUTPUT_MARKER

    def prepare(self) -> None:
        """At the start of a run (lock held): remove the temporary files a killed run left
        and mark the folder as mam's output, so no later run reads it as input."""
        try:
            remove_stale_temps(self.root)
            if not self.marker.is_file():
                atomic_write_text(self.marker, "written by mam matte; never read as input\n")
        except OSError as exc:
            raise OutputError(f"{self.root}: cannot write: {exc.strerror or exc}") from None


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
