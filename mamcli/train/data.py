"""Training data: folder layouts, on-the-fly composition, augmentation, sampling.

Two layouts are accepted (docs/train.md):
(a) `fg/` + `alpha/` with matching stems, composited onto backgrounds from `--backgrounds`
    or the root's own `bg/`: image = alpha * F + (1 - alpha) * B;
(b) `image/` + `alpha/`, already composited.
Every sample is scaled so its shorter side is the crop size, augmented (random affine,
colour jitter, flip), cropped around transition pixels and resized to the SAM's input size.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset, DistributedSampler, Sampler

from mamcli.errors import InputError, MamError
from mamcli.imaging.boxes import protocol_box
from mamcli.imaging.compose import composite
from mamcli.imaging.read import IMAGE_EXTENSIONS, read_alpha, read_rgb
from mamcli.imaging.trimap import erosion_trimap as make_trimap
from mamcli.train.schedule import scaled_width

LAYOUTS = {"fg": "fg/ + alpha/ (composited onto backgrounds)", "image": "image/ + alpha/"}
TRIMAP_WIDTH = 30  # maximum erosion width of the trimap at 1024 px


@dataclass(frozen=True)
class Sample:
    """One training item: an alpha plus either a foreground (with backgrounds) or an image."""

    alpha: Path
    color: Path
    backgrounds: tuple[Path, ...] = ()

    @property
    def composited(self) -> bool:
        return not self.backgrounds


def _images(folder: Path) -> dict[str, Path]:
    files = {}
    for path in sorted(folder.iterdir()):
        if path.is_file() and path.suffix.lower() in IMAGE_EXTENSIONS:
            if path.stem in files:
                raise InputError(path, f"two images with the stem {path.stem!r} in {folder}")
            files[path.stem] = path
    return files


def _image_size(path: Path) -> tuple[int, int]:
    try:
        with Image.open(path) as image:
            return image.size
    except OSError as exc:
        raise InputError(path, f"not a readable image ({exc})") from None


def scan_root(root: Path, backgrounds: Path | None = None) -> list[Sample]:
    """List a data root's samples, checking its layout, pairs and image sizes."""
    if not root.is_dir():
        raise InputError(root, "data root is not a folder")
    present = [name for name in LAYOUTS if (root / name).is_dir()]
    if len(present) != 1 or not (root / "alpha").is_dir():
        found = ", ".join(f"{p.name}/" for p in sorted(root.iterdir()) if p.is_dir())
        expected = " or ".join(LAYOUTS.values())
        raise InputError(root, f"expected the layout {expected}; found {found or 'no folders'}")
    colors = _images(root / present[0])
    alphas = _images(root / "alpha")
    for stem, path in alphas.items():
        if stem not in colors:
            raise InputError(path, f"no matching {present[0]}/{stem}.* for this alpha")
    for stem, path in colors.items():
        if stem not in alphas:
            raise InputError(path, f"no matching alpha/{stem}.* for this image")
    if not alphas:
        raise InputError(root / "alpha", "no images in the alpha folder")
    for stem, path in alphas.items():
        if _image_size(path) != _image_size(colors[stem]):
            raise InputError(path, f"size differs from {colors[stem]}")
    bgs: tuple[Path, ...] = ()
    if present[0] == "fg":
        bg_dir = backgrounds or root / "bg"
        if not bg_dir.is_dir():
            raise InputError(root, "the fg/ layout needs backgrounds: --backgrounds DIR or bg/")
        bgs = tuple(_images(bg_dir).values())
        if not bgs:
            raise InputError(bg_dir, "no background images")
    return [Sample(alpha=alphas[stem], color=colors[stem], backgrounds=bgs) for stem in alphas]


def split_holdout(samples: list[Sample], fraction: float, seed: int = 0) -> tuple[list, list]:
    """Hold out round(fraction * n) samples (at least 1 when n >= 2 and fraction > 0)."""
    count = round(fraction * len(samples))
    if fraction > 0 and len(samples) >= 2:
        count = min(max(count, 1), len(samples) - 1)
    held = set(np.random.default_rng(seed).permutation(len(samples))[:count].tolist())
    train = [s for i, s in enumerate(samples) if i not in held]
    return train, [s for i, s in enumerate(samples) if i in held]


def tight_box(alpha: np.ndarray) -> np.ndarray:
    """The protocol box (inclusive indices, mamcli/imaging/boxes.py) of alpha > 0.5, else
    of the whole image."""
    box = protocol_box(alpha > 0.5) or (0, 0, alpha.shape[1] - 1, alpha.shape[0] - 1)
    return np.array(box, dtype=np.float32)


def _resize(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize to (h, w) bilinearly."""
    return cv2.resize(image, (size[1], size[0]), interpolation=cv2.INTER_LINEAR)


def _scale_to_cover(image: np.ndarray, side: int, factor: float = 1.0) -> np.ndarray:
    """Resize so the shorter side is `side * factor` (at least `side`)."""
    h, w = image.shape[:2]
    scale = side * factor / min(h, w)
    size = (max(side, round(h * scale)), max(side, round(w * scale)))
    return image if size == (h, w) else _resize(image, size)


def _random_affine(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    """2x3 matrix: rotation +-30 deg, scale 0.8-1.25, shear +-10 deg, shift +-10%, flip 50%."""
    h, w = shape
    angle = math.radians(rng.uniform(-30, 30))
    scale = math.exp(rng.uniform(math.log(0.8), math.log(1.25)))
    shear = math.tan(math.radians(rng.uniform(-10, 10)))
    flip = -1.0 if rng.random() < 0.5 else 1.0
    cos, sin = math.cos(angle) * scale, math.sin(angle) * scale
    linear = np.array([[cos, -sin], [sin, cos]]) @ np.array([[1.0, shear], [0.0, 1.0]])
    linear = linear @ np.diag([flip, 1.0])
    centre = np.array([w / 2, h / 2])
    shift = rng.uniform(-0.1, 0.1, size=2) * np.array([w, h])
    offset = centre + shift - linear @ centre
    return np.hstack([linear, offset[:, None]]).astype(np.float32)


def _color_jitter(rng: np.random.Generator, rgb: np.ndarray) -> np.ndarray:
    """Random hue shift (+-18 deg), saturation and value scaling (0.7-1.3)."""
    hsv = cv2.cvtColor(rgb.astype(np.float32) / 255.0, cv2.COLOR_RGB2HSV)
    hsv[..., 0] = (hsv[..., 0] + rng.uniform(-18, 18)) % 360
    hsv[..., 1] = np.clip(hsv[..., 1] * rng.uniform(0.7, 1.3), 0, 1)
    hsv[..., 2] = np.clip(hsv[..., 2] * rng.uniform(0.7, 1.3), 0, 1)
    rgb = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)
    return np.clip(np.rint(rgb * 255.0), 0, 255).astype(np.uint8)


def _crop_origin(rng: np.random.Generator | None, alpha: np.ndarray, crop: int) -> tuple[int, int]:
    """Top-left of a crop x crop window around a random transition pixel (rng), or centred
    on the alpha's box (no rng)."""
    h, w = alpha.shape
    if rng is None:
        x0, y0, x1, y1 = tight_box(alpha)
        cy, cx = (y0 + y1) / 2, (x0 + x1) / 2
    else:
        ys, xs = np.nonzero((alpha > 0.01) & (alpha < 0.99))
        if len(ys):
            pick = rng.integers(len(ys))
            cy, cx = ys[pick], xs[pick]
        else:
            cy, cx = rng.uniform(0, h), rng.uniform(0, w)
    top = int(np.clip(round(cy - crop / 2), 0, h - crop))
    left = int(np.clip(round(cx - crop / 2), 0, w - crop))
    return top, left


class MattingDataset(Dataset):
    """Composited, augmented training crops.

    Items: "image" uint8 3 x S x S, "alpha" float32 1 x S x S, "trimap" uint8 1 x S x S
    (0 / 128 / 255), "box" float32 [x0, y0, x1, y1] in pixels of the S x S crop, where S is
    the SAM's input size. Without `augment` every item is a fixed function of its index
    (centred crop, background index % n): that is the validation set.
    """

    def __init__(
        self, samples: Sequence[Sample], image_size: int, crop_size: int, augment: bool
    ) -> None:
        if not samples:
            raise MamError("no samples to train or validate on")
        self.samples = list(samples)
        self.image_size = image_size
        self.crop_size = crop_size
        self.augment = augment

    def __len__(self) -> int:
        return len(self.samples)

    def _rng(self) -> np.random.Generator | None:
        # torch's generator is seeded per DataLoader worker and per epoch.
        return np.random.default_rng(int(torch.randint(2**62, ()).item())) if self.augment else None

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        sample = self.samples[index]
        rng = self._rng()
        crop = self.crop_size
        color, alpha = read_rgb(sample.color), read_alpha(sample.alpha) / np.float32(255)
        factor = 1.0 if rng is None else rng.uniform(1.0, 1.5)
        color, alpha = _scale_to_cover(color, crop, factor), _scale_to_cover(alpha, crop, factor)
        if rng is not None:
            matrix = _random_affine(rng, alpha.shape)
            border = cv2.BORDER_CONSTANT if not sample.composited else cv2.BORDER_REFLECT_101
            size = (alpha.shape[1], alpha.shape[0])
            color = cv2.warpAffine(color, matrix, size, flags=cv2.INTER_LINEAR, borderMode=border)
            alpha = cv2.warpAffine(alpha, matrix, size, flags=cv2.INTER_LINEAR, borderMode=border)
            color = _color_jitter(rng, color)
        top, left = _crop_origin(rng, alpha, crop)
        color = color[top : top + crop, left : left + crop]
        alpha = np.clip(alpha[top : top + crop, left : left + crop], 0.0, 1.0)
        if not sample.composited:
            color = composite(color, alpha, self._background(sample, index, rng))
        if crop != self.image_size:
            color = _resize(color, (self.image_size, self.image_size))
            alpha = _resize(alpha, (self.image_size, self.image_size))
        high = scaled_width(TRIMAP_WIDTH, self.image_size)
        width = high // 2 if rng is None else int(rng.integers(1, high + 1))
        return {
            "image": torch.from_numpy(np.ascontiguousarray(color.transpose(2, 0, 1))),
            "alpha": torch.from_numpy(np.ascontiguousarray(alpha))[None],
            "trimap": torch.from_numpy(make_trimap(alpha, max(1, width)))[None],
            "box": torch.from_numpy(tight_box(alpha)),
        }

    def _background(
        self, sample: Sample, index: int, rng: np.random.Generator | None
    ) -> np.ndarray:
        crop = self.crop_size
        if rng is None:
            bg = _scale_to_cover(
                read_rgb(sample.backgrounds[index % len(sample.backgrounds)]), crop
            )
            top, left = (bg.shape[0] - crop) // 2, (bg.shape[1] - crop) // 2
        else:
            path = sample.backgrounds[rng.integers(len(sample.backgrounds))]
            bg = _scale_to_cover(read_rgb(path), crop, rng.uniform(1.0, 1.5))
            if rng.random() < 0.5:
                bg = bg[:, ::-1]
            top = int(rng.integers(bg.shape[0] - crop + 1))
            left = int(rng.integers(bg.shape[1] - crop + 1))
        return bg[top : top + crop, left : left + crop]


class WeightedDistributedSampler(Sampler[int]):
    """Draws indices with per-sample probabilities (with replacement), sharded over ranks.

    Every rank draws the same global sequence for an epoch (seed + epoch) and keeps every
    world_size-th index from its rank on, as DistributedSampler does.
    """

    def __init__(
        self, weights: torch.Tensor, num_samples: int, rank: int, world_size: int, seed: int
    ) -> None:
        self.weights = weights.double()
        self.num_samples = math.ceil(num_samples / world_size)
        self.rank, self.world_size, self.seed = rank, world_size, seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.num_samples

    def __iter__(self) -> Iterator[int]:
        generator = torch.Generator().manual_seed(self.seed + self.epoch)
        total = self.num_samples * self.world_size
        drawn = torch.multinomial(self.weights, total, replacement=True, generator=generator)
        return iter(drawn[self.rank :: self.world_size].tolist())


def make_sampler(
    sizes: Sequence[int], weights: Sequence[float | None], rank: int, world_size: int, seed: int
) -> Sampler[int]:
    """DistributedSampler over the concatenated roots, or a weighted one when weights are set.

    With weights, root r is drawn with probability w_r / sum(w) (a root without a weight
    counts as weight 1), spread evenly over its samples.
    """
    total = sum(sizes)
    if all(w is None for w in weights):
        return DistributedSampler(
            range(total), num_replicas=world_size, rank=rank, shuffle=True, seed=seed
        )
    per_sample = torch.cat(
        [
            torch.full((n,), (1.0 if w is None else w) / n)
            for n, w in zip(sizes, weights, strict=True)
        ]
    )
    return WeightedDistributedSampler(per_sample, total, rank, world_size, seed)
