"""What every benchmark shares: random-weight models (in memory and as checkpoint files),
synthetic PNGs with box prompts, alpha differences and machine facts."""

from __future__ import annotations

import contextlib
import json
import os
import platform
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from mamcli.model.devices import has_amx

if TYPE_CHECKING:
    import torch

    from mamcli.model.api import MattingAnything
    from mamcli.model.config import InferenceOptions
    from mamcli.model.m2m import M2M
    from mamcli.model.sam import SamConfig

RANDOM_WEIGHTS_NOTE = "random weights: timings are real, alphas are not (their differences are)"


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def cpu_name() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


# ----------------------------------------------------------------------------- models


def sam_config(model: str, size: int) -> SamConfig:
    """vit_b: the official ViT-B shape at `size` px; tiny: the library's test SAM, a
    2-block ViT for quick checks."""
    from mamcli.model.sam import OFFICIAL_CONFIGS, TINY_CONFIG

    base = TINY_CONFIG if model == "tiny" else OFFICIAL_CONFIGS[model]
    return replace(base, img_size=size)


@dataclass
class Models:
    sam: torch.nn.Module
    m2m: M2M
    device: torch.device
    config: SamConfig

    def matting(self, precision: str, options: InferenceOptions) -> MattingAnything:
        """A MattingAnything on a copy of the SAM (low precisions cast its encoder in place)."""
        import copy

        from mamcli.model.api import MattingAnything

        sam = copy.deepcopy(self.sam)
        return MattingAnything(sam, self.m2m, self.device, precision, options=options)


def build_models(model: str, size: int, device: str) -> Models:
    """Random-weight SAM (default init) and M2M (spectral norms converged), in eval mode."""
    import torch

    from mamcli.model.devices import resolve_device
    from mamcli.model.m2m import M2M, converge_spectral_norms
    from mamcli.model.sam import build_sam

    torch.manual_seed(0)
    config = sam_config(model, size)
    resolved = resolve_device(device)
    sam = build_sam(config).to(resolved).eval().requires_grad_(False)
    m2m = converge_spectral_norms(M2M()).to(resolved).eval().requires_grad_(False)
    return Models(sam, m2m, resolved, config)


def save_checkpoints(models: Models, folder: Path) -> tuple[Path, Path]:
    """The models as SAM and M2M checkpoint files, for `mam matte --sam-checkpoint ...`."""
    import torch

    folder.mkdir(parents=True, exist_ok=True)
    sam, m2m = folder / "sam_random.pth", folder / "m2m_random.pth"
    torch.save({k: v.cpu() for k, v in models.sam.state_dict().items()}, sam)
    torch.save({"state_dict": {k: v.cpu() for k, v in models.m2m.state_dict().items()}}, m2m)
    return sam, m2m


# ----------------------------------------------------------------------------- inputs


@dataclass
class SyntheticImage:
    path: Path
    boxes: list[tuple[float, float, float, float]] = field(default_factory=list)


def make_images(
    folder: Path, count: int, prompts: int, width: int, height: int, seed: int = 0
) -> list[SyntheticImage]:
    """Write `count` PNGs (uint8 noise plus filled discs) and draw `prompts` boxes for each."""
    import cv2

    from mamcli.imaging.write import write_image

    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    images = []
    for index in range(count):
        rgb = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
        for _ in range(6):
            centre = (int(rng.integers(0, width)), int(rng.integers(0, height)))
            colour = tuple(int(c) for c in rng.integers(0, 256, 3))
            cv2.circle(rgb, centre, int(rng.integers(height // 12, height // 3)), colour, -1)
        path = folder / f"image_{index:04d}.png"
        write_image(path, rgb)
        images.append(SyntheticImage(path, random_boxes(rng, prompts, width, height)))
    return images


def random_boxes(rng: np.random.Generator, count: int, width: int, height: int) -> list:
    boxes = []
    for _ in range(count):
        x0, y0 = rng.uniform(0, width / 2), rng.uniform(0, height / 2)
        size = rng.uniform(0.25, 0.5)
        boxes.append((x0, y0, x0 + size * width, y0 + size * height))
    return boxes


def write_boxes(path: Path, images: list[SyntheticImage]) -> Path:
    """A `--boxes` prompt file for `images`, keyed by file name."""
    path.write_text(
        json.dumps({image.path.name: [list(b) for b in image.boxes] for image in images})
    )
    return path


def alpha_path(out: Path, stem: str, index: int, count: int) -> Path:
    """Where `mam matte` writes instance `index` of an image with `count` instances."""
    return out / "alpha" / (f"{stem}.png" if count == 1 else f"{stem}/{index}.png")


def alpha_difference(reference: Path, other: Path) -> dict[str, float]:
    """|alpha - reference alpha| in 8-bit levels over all alpha PNGs of two output folders."""
    import cv2

    diffs = []
    for path in sorted((reference / "alpha").rglob("*.png")):
        a = cv2.imread(str(path), cv2.IMREAD_UNCHANGED).astype(np.int16)
        b = cv2.imread(str(other / path.relative_to(reference)), cv2.IMREAD_UNCHANGED)
        diffs.append(np.abs(a - b.astype(np.int16)).ravel())
    levels = np.concatenate(diffs)
    return {
        "max_levels": float(levels.max()),
        "mean_levels": float(levels.mean()),
        "over_1_level": float((levels > 1).mean()),
    }


def machine(device: str) -> dict[str, object]:
    import torch

    return {
        "cpu": cpu_name(),
        "cpu_count": os.cpu_count(),
        "amx": has_amx(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "device": device,
        "loadavg": os.getloadavg(),
    }


def image_size(text: str) -> tuple[int, int]:
    import argparse

    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT, got {text!r}") from None
    return width, height
