"""Demo: train M2M from scratch on procedurally made mattes, with a small random SAM.

    python examples/train_demo.py --out demo_out [--steps 150] [--size 128] [--device cpu]

Everything is made here and written under --out:
- foregrounds: smooth random blobs with soft edges and semi-transparent hair-like strands,
  coloured with crops of scikit-image's public-domain photos; alpha PNGs beside them;
- backgrounds: other scikit-image photos (train and validation use different ones);
- a random-weight SAM at `--size` px (no pretrained weights needed).
Then `mamcli.train.train` runs the paper's recipe (shortened) and the validation SAD of the
refined alpha is compared with the SAM-mask-only baseline (the guide mask upsampled).
"""

from __future__ import annotations

import argparse
import dataclasses
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import torch
from skimage import data as photos

from mamcli.model.sam import TINY_CONFIG, build_sam
from mamcli.train.config import RootSpec, TrainConfig
from mamcli.train.loop import train

TRAIN_BACKGROUNDS = ("astronaut", "coffee", "rocket", "hubble_deep_field", "camera", "brick")
VAL_BACKGROUNDS = ("chelsea", "immunohistochemistry", "coins", "gravel")
TEXTURES = ("astronaut", "coffee", "rocket", "chelsea", "colorwheel", "retina", "moon", "grass")
# The library's tiny test SAM, twice as wide: random weights, enough to learn from.
SMALL_SAM = replace(TINY_CONFIG, encoder_dim=64, decoder_mlp_dim=128, iou_head_hidden_dim=64)


def photo(name: str) -> np.ndarray:
    """A scikit-image sample photo as RGB uint8."""
    image = getattr(photos, name)()
    return np.repeat(image[..., None], 3, axis=2) if image.ndim == 2 else image[..., :3]


def soft_blob(rng: np.random.Generator, size: int) -> np.ndarray:
    """Alpha in [0, 1]: a smooth random blob with a soft edge plus a few thin strands."""
    noise = cv2.resize(rng.normal(size=(6, 6)).astype(np.float32), (size, size))
    yy, xx = np.mgrid[:size, :size] / size - 0.5
    field = noise * 0.6 - np.hypot(yy, xx) * 4 + 1
    softness = rng.uniform(0.05, 0.4)
    alpha = np.clip(field / softness + 0.5, 0, 1)
    strands = np.zeros_like(alpha)
    for _ in range(rng.integers(5, 25)):
        start = rng.uniform(0.3, 0.7, 2) * size
        end = start + rng.normal(0, 0.25, 2) * size
        width = int(rng.integers(1, 3))
        cv2.line(
            strands, tuple(start.astype(int)), tuple(end.astype(int)), rng.uniform(0.3, 1), width
        )
    return np.maximum(alpha, cv2.GaussianBlur(strands, (3, 3), 0.7))


def random_crop(rng: np.random.Generator, image: np.ndarray, size: int) -> np.ndarray:
    scale = size / min(image.shape[:2]) * rng.uniform(1, 2)
    image = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    top = rng.integers(image.shape[0] - size + 1)
    left = rng.integers(image.shape[1] - size + 1)
    return image[top : top + size, left : left + size]


def write(path: Path, image: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    bgr = cv2.cvtColor(image, cv2.COLOR_RGB2BGR) if image.ndim == 3 else image
    if not cv2.imwrite(str(path), bgr):
        raise OSError(f"could not write {path}")


def make_root(root: Path, count: int, backgrounds: tuple[str, ...], size: int, seed: int) -> Path:
    """A data root in the fg/ + alpha/ + bg/ layout."""
    rng = np.random.default_rng(seed)
    for i in range(count):
        texture = random_crop(rng, photo(TEXTURES[rng.integers(len(TEXTURES))]), size)
        tint = rng.uniform(0.6, 1.4, 3)
        write(root / "fg" / f"{i:03d}.png", np.clip(texture * tint, 0, 255).astype(np.uint8))
        write(
            root / "alpha" / f"{i:03d}.png", (soft_blob(rng, size) * 255).round().astype(np.uint8)
        )
    for name in backgrounds:
        write(root / "bg" / f"{name}.jpg", photo(name))
    return root


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("train_demo_out"))
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--size", type=int, default=128, help="SAM input size (multiple of 64)")
    parser.add_argument("--batch-size", type=int, default=2)
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()

    torch.manual_seed(0)
    sam_path = args.out / "sam_random.pth"
    sam_path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(build_sam(dataclasses.replace(SMALL_SAM, img_size=args.size)).state_dict(), sam_path)
    source = round(args.size * 1.5)
    train_root = make_root(args.out / "data" / "train", 48, TRAIN_BACKGROUNDS, source, seed=1)
    val_root = make_root(args.out / "data" / "val", 12, VAL_BACKGROUNDS, source, seed=2)
    every = max(1, args.steps // 5)
    summary = train(
        TrainConfig(
            data_roots=[RootSpec(train_root)],
            val_roots=[val_root],
            sam_checkpoint=sam_path,
            out_dir=args.out / "run",
            steps=args.steps,
            warmup_steps=args.steps // 5,
            batch_size=args.batch_size,
            device=args.device,
            num_workers=1,
            checkpoint_every=every,
            val_every=every,
        ),
        on_step=lambda step, total, loss: (
            print(f"step {step}/{total}: loss {loss:.4f}") if step % every == 0 else None
        ),
    )
    print(f"steps: {summary.steps}, final loss {summary.loss:.4f}")
    print(f"validation SAD: {summary.val_sad:.3f} (best {summary.best_sad:.3f})")
    print(f"SAM mask only (guide mask upsampled): {summary.baseline_sad:.3f}")
    print(f"checkpoint: {summary.out_dir / 'last.pth'}; log and curve in {summary.out_dir}")


if __name__ == "__main__":
    main()
