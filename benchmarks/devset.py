"""Build the classic engine's development set: real photos matted over real photos.

Usage: python benchmarks/devset.py OUT_DIR [--count 24] [--size 800]

Every image is alpha * F + (1 - alpha) * B, rounded to 8 bits, so the ground truth is
exact. F is a region of a real photograph bundled with scikit-image (astronaut, chelsea,
coffee, rocket, motorcycle, immunohistochemistry, retina), B another one of them or a
bundled texture (brick, grass, gravel), sometimes blurred like an out-of-focus
background. The alphas cycle through six kinds: a hard anti-aliased edge, a feathered
edge, long hair, short dense fur, motion blur in a random direction, and a
semi-transparent glass. Hair strands take the colour of the nearby body (a normalised
blur of the photo under the body), as real hair does.

Writes OUT_DIR/<name>.png, OUT_DIR/gt/<name>.png (8-bit alpha), OUT_DIR/boxes.json (the
tight box of alpha > 127, inclusive, as `mam prompts from-alpha` makes) and
OUT_DIR/gt/.mamignore. Deterministic: seeded numpy and OpenCV only; same bytes per run
on one machine. Nothing is written into the repository.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import cv2
import numpy as np
from skimage import data

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "samples"))
from make_samples import blob, glass, png_bytes, strands, to_u8

KINDS = ("hard", "feather", "hair", "fur", "blur", "glass")
FOREGROUNDS = ("astronaut", "chelsea", "coffee", "rocket", "motorcycle", "immunohistochemistry")
BACKGROUNDS = ("coffee", "rocket", "retina", "astronaut", "motorcycle", "chelsea",
               "brick", "grass", "gravel", "immunohistochemistry")  # fmt: skip


def photo(name: str) -> np.ndarray:
    """A bundled skimage image as float64 RGB (grey textures get a random-free tint)."""
    image = data.stereo_motorcycle()[0] if name == "motorcycle" else getattr(data, name)()
    if image.ndim == 2:
        tints = {"brick": (0.85, 0.55, 0.45), "grass": (0.45, 0.75, 0.35)}
        image = image[..., None] * np.array(tints.get(name, (0.6, 0.62, 0.7)))
    return image[..., :3].astype(np.float64)


def cover(image: np.ndarray, h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    """`image` scaled to cover h x w (a random 1 to 1.3 zoom) and cropped at random."""
    ih, iw = image.shape[:2]
    scale = max(h / ih, w / iw) * rng.uniform(1.0, 1.3)
    size = (math.ceil(iw * scale), math.ceil(ih * scale))
    big = cv2.resize(image, size, interpolation=cv2.INTER_CUBIC)
    y0 = int(rng.integers(0, big.shape[0] - h + 1))
    x0 = int(rng.integers(0, big.shape[1] - w + 1))
    return np.clip(big[y0 : y0 + h, x0 : x0 + w], 0, 255)


def hair_colour(body: np.ndarray, rgb: np.ndarray, sigma: float) -> np.ndarray:
    """Colours of the body spread outwards: normalised Gaussian blur of rgb under body."""
    weight = cv2.GaussianBlur(body, (0, 0), sigma)[..., None] + 1e-6
    spread = cv2.GaussianBlur(rgb * body[..., None], (0, 0), sigma) / weight
    return body[..., None] * rgb + (1 - body[..., None]) * spread


def strands_around(
    body: np.ndarray, count: int, rng: np.random.Generator, length: tuple[float, float],
    width: tuple[float, float], curl: float,
) -> np.ndarray:  # fmt: skip
    """Strands rooted on the body's soft edge, pointing outwards (along the gradient)."""
    gy, gx = np.gradient(cv2.GaussianBlur(body, (0, 0), 4))
    ys, xs = np.nonzero((body > 0.2) & (body < 0.95))
    pick = rng.integers(0, len(xs), count)
    roots = np.stack([xs[pick] + 0.5, ys[pick] + 0.5], axis=1)
    angles = np.arctan2(-gy[ys[pick], xs[pick]], -gx[ys[pick], xs[pick]])
    angles += rng.normal(0, 0.4, count)
    hair = strands(*body.shape, roots, angles, rng, length, width, curl)
    return np.maximum(body, hair)


def motion(alpha: np.ndarray, length: int, angle: float) -> np.ndarray:
    """Alpha blurred by a straight motion of `length` px in direction `angle` (radians)."""
    k = np.zeros((length, length), np.float32)
    c = (length - 1) / 2
    dx, dy = math.cos(angle) * c, math.sin(angle) * c
    cv2.line(k, (round(c - dx), round(c - dy)), (round(c + dx), round(c + dy)), 1.0, 1)
    return cv2.filter2D(alpha, -1, k / k.sum(), borderType=cv2.BORDER_CONSTANT)


def make(index: int, size: int) -> tuple[np.ndarray, np.ndarray, str]:
    """Image index -> (uint8 RGB composite, float alpha, a short description)."""
    rng = np.random.default_rng(1000 + index)
    kind = KINDS[index % len(KINDS)]
    portrait = index % 4 == 3
    h, w = (size, round(size * 0.75)) if portrait else (round(size * 0.75), size)
    fg_name = FOREGROUNDS[(index * 5 + index // 6) % len(FOREGROUNDS)]
    bg_name = BACKGROUNDS[(index * 7 + 3) % len(BACKGROUNDS)]
    if bg_name == fg_name:
        bg_name = BACKGROUNDS[(index * 7 + 4) % len(BACKGROUNDS)]
    fg = cover(photo(fg_name), h, w, rng)
    bg = cover(photo(bg_name), h, w, rng)
    blur_bg = rng.uniform() < 0.4
    if blur_bg:
        bg = cv2.GaussianBlur(bg, (0, 0), rng.uniform(2, 6))
    s = min(h, w) / 600  # shapes are specified for a 600 px short side
    centre = (w / 2 + rng.uniform(-0.1, 0.1) * w, h / 2 + rng.uniform(-0.1, 0.1) * h)
    axes = (rng.uniform(150, 230) * s, rng.uniform(150, 230) * s)
    colour = fg
    if kind == "hard":
        alpha = blob(h, w, centre, axes, rng, wobble=0.25, feather=1.0)
    elif kind == "feather":
        alpha = blob(h, w, centre, axes, rng, wobble=0.12, feather=rng.uniform(4, 14) * s)
    elif kind in ("hair", "fur"):
        body = blob(h, w, centre, axes, rng, wobble=0.1, feather=2.0 * s)
        if kind == "hair":
            alpha = strands_around(body, 2200, rng, (25 * s, 75 * s), (0.6, 1.5), 1.6)
        else:
            alpha = strands_around(body, 3500, rng, (8 * s, 26 * s), (0.6, 1.3), 0.8)
        colour = hair_colour(body, fg, 12 * s) + rng.uniform(-12, 12, (h, w, 1))
    elif kind == "blur":
        body = blob(h, w, centre, (axes[0] * 0.8, axes[1] * 0.8), rng, wobble=0.1, feather=1.0)
        length = 2 * int(rng.integers(10, 35) * s) + 1
        alpha = motion(body.astype(np.float32), length, rng.uniform(0, math.pi)).astype(float)
    else:
        alpha, colour = glass(h, w, centre, min(axes))
        colour = colour * rng.uniform(0.75, 1.0, 3)
    image = alpha[..., None] * colour + (1 - alpha[..., None]) * bg
    image = np.clip(np.round(image), 0, 255).astype(np.uint8)
    return image, alpha, f"{kind} {fg_name} over {bg_name}{' (blurred)' if blur_bg else ''}"


def box(alpha8: np.ndarray) -> list[int]:
    """Inclusive tight box of alpha > 127, as mamcli.prompts_from_alpha.box_from_alpha."""
    ys, xs = np.nonzero(alpha8 > 127)
    return [int(xs.min()), int(ys.min()), int(xs.max()), int(ys.max())]


def build(out: Path, count: int = 24, size: int = 800) -> list[str]:
    """Write `count` images of long side `size` under `out`; returns their descriptions."""
    (out / "gt").mkdir(parents=True, exist_ok=True)
    boxes, notes = {}, []
    for i in range(count):
        image, alpha, note = make(i, size)
        name = f"dev{i:02d}_{note.split()[0]}.png"
        alpha8 = to_u8(alpha)
        (out / name).write_bytes(png_bytes(image))
        (out / "gt" / name).write_bytes(png_bytes(alpha8))
        boxes[name] = [{"id": "0", "box": box(alpha8)}]
        notes.append(f"{name}: {note}")
    (out / "boxes.json").write_text(json.dumps(boxes, indent=1) + "\n")
    (out / "gt" / ".mamignore").write_bytes(b"")
    return notes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--count", type=int, default=24)
    parser.add_argument("--size", type=int, default=800, help="long side in pixels")
    args = parser.parse_args()
    for line in build(args.out, args.count, args.size):
        print(line)


if __name__ == "__main__":
    main()
