"""Regenerate the sample images, their prompts and exact ground-truth alphas.

Usage: python samples/make_samples.py [OUT_DIR]   (default: this folder)

Each sample is a composite image = alpha * F + (1 - alpha) * B of a procedurally made
soft foreground over a public-domain / CC0 photo or texture bundled with scikit-image
(see samples/README.md), so the alpha is known exactly. Everything is seeded and done
in plain numpy (no resampling libraries), and PNGs are written by the small encoder
below (Paeth filter, zlib level 9), so the bytes are the same on every run.
"""

from __future__ import annotations

import json
import re
import struct
import sys
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
from skimage import data

MARGIN = 4
"""Pixels added around the tight box of GT alpha > 127 to make a user-like box prompt."""


def png_bytes(image: np.ndarray) -> bytes:
    """8-bit grey (H x W) or RGB (H x W x 3) PNG, every row Paeth-filtered, zlib level 9."""
    img = image if image.ndim == 3 else image[..., None]
    h, w, c = img.shape
    raw = img.reshape(h, w * c).astype(np.int16)
    left = np.zeros_like(raw)
    left[:, c:] = raw[:, :-c]
    up = np.zeros_like(raw)
    up[1:] = raw[:-1]
    upleft = np.zeros_like(raw)
    upleft[1:] = left[:-1]
    p = left + up - upleft
    pa, pb, pc = np.abs(p - left), np.abs(p - up), np.abs(p - upleft)
    pred = np.where((pa <= pb) & (pa <= pc), left, np.where(pb <= pc, up, upleft))
    rows = ((raw - pred) % 256).astype(np.uint8)
    payload = np.concatenate([np.full((h, 1), 4, np.uint8), rows], axis=1).tobytes()

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    header = struct.pack(">IIBBBBB", w, h, 8, 2 if c == 3 else 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(payload, 9))
        + chunk(b"IEND", b"")
    )


def tint(grey: np.ndarray, colour: tuple[float, float, float]) -> np.ndarray:
    """A grey texture (uint8) coloured by `colour` (0..1 per channel) as float RGB 0..255."""
    return grey.astype(np.float64)[..., None] * np.array(colour)


def grid(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-centre coordinates (y, x) of an h x w image."""
    return np.mgrid[0:h, 0:w].astype(np.float64)


def blob(
    h: int, w: int, centre: tuple[float, float], axes: tuple[float, float],
    rng: np.random.Generator, wobble: float, feather: float,
) -> np.ndarray:  # fmt: skip
    """Soft ellipse alpha whose radius wobbles with a few random harmonics."""
    y, x = grid(h, w)
    dx, dy = (x - centre[0]) / axes[0], (y - centre[1]) / axes[1]
    r = np.sqrt(dx * dx + dy * dy)
    angle = np.arctan2(dy, dx)
    edge = np.ones_like(r)
    for k in range(2, 7):
        a, b = rng.uniform(-wobble, wobble, 2) / k
        edge += a * np.cos(k * angle) + b * np.sin(k * angle)
    dist = (edge - r) * min(axes)  # approximate signed distance in pixels, inside > 0
    return np.clip(dist / feather + 0.5, 0, 1)


def strands(
    h: int, w: int, roots: np.ndarray, angles: np.ndarray, rng: np.random.Generator,
    length: tuple[float, float], width: tuple[float, float], curl: float,
) -> np.ndarray:  # fmt: skip
    """Coverage of thin anti-aliased, tapering, curling strands (hair or fur).

    Each strand is sampled every ~0.35 px; a sample covers the pixels within its
    half-width (linear anti-aliasing ramp); strands combine by maximum.
    """
    n = len(roots)
    lengths = rng.uniform(*length, n)
    widths = rng.uniform(*width, n)
    bends = rng.uniform(-curl, curl, n)
    opacity = rng.uniform(0.55, 1.0, n)
    steps = int(max(length) / 0.35) + 1
    t = np.linspace(0.0, 1.0, steps)[None, :]
    theta = angles[:, None] + bends[:, None] * t
    # integrate the direction with a cumulative sum so the strand curls smoothly
    ds = lengths[:, None] / (steps - 1)
    px = roots[:, :1] + np.cumsum(np.cos(theta) * ds, axis=1) - np.cos(theta[:, :1]) * ds
    py = roots[:, 1:] + np.cumsum(np.sin(theta) * ds, axis=1) - np.sin(theta[:, :1]) * ds
    half = (widths[:, None] * (1.0 - 0.75 * t)) / 2
    cover = np.zeros(h * w)
    for oy in (-1, 0, 1, 2):
        for ox in (-1, 0, 1, 2):
            ix, iy = np.floor(px) + ox, np.floor(py) + oy
            d = np.hypot(ix + 0.5 - px, iy + 0.5 - py)
            c = np.clip(half + 0.5 - d, 0, 1) * opacity[:, None]
            ok = (ix >= 0) & (ix < w) & (iy >= 0) & (iy < h) & (c > 0)
            np.maximum.at(cover, (iy[ok] * w + ix[ok]).astype(np.int64), c[ok])
    return cover.reshape(h, w)


def fur_around(
    body: np.ndarray, centre: tuple[float, float], count: int, rng: np.random.Generator,
    length: tuple[float, float], curl: float = 1.0,
) -> np.ndarray:  # fmt: skip
    """`body` alpha plus strands rooted on its edge and pointing away from `centre`."""
    h, w = body.shape
    ys, xs = np.nonzero((body > 0.3) & (body < 0.9))
    pick = rng.integers(0, len(xs), count)
    roots = np.stack([xs[pick] + 0.5, ys[pick] + 0.5], axis=1).astype(np.float64)
    angles = np.arctan2(roots[:, 1] - centre[1], roots[:, 0] - centre[0])
    angles += rng.normal(0, 0.35, count)
    hair = strands(h, w, roots, angles, rng, length, (0.6, 1.4), curl)
    return np.maximum(body, hair)


def shift(image: np.ndarray, dx: int, dy: int, shape: tuple[int, int]) -> np.ndarray:
    """`image` moved by (dx, dy) onto a canvas of `shape`, edges replicated."""
    h, w = shape
    ys = np.clip(np.arange(h) - dy, 0, image.shape[0] - 1)
    xs = np.clip(np.arange(w) - dx, 0, image.shape[1] - 1)
    return image[ys][:, xs].astype(np.float64)


def fur_colour(h: int, w: int, rng: np.random.Generator, base: tuple, tip: tuple) -> np.ndarray:
    """Fur-like colours: a vertical blend from `base` to `tip` with per-pixel grain."""
    y, _ = grid(h, w)
    t = (y / h)[..., None]
    colour = (1 - t) * np.array(base) + t * np.array(tip)
    grain = rng.uniform(-18, 18, (h, w, 1))
    return np.clip(colour + grain, 0, 255)


def glass(h: int, w: int, centre: tuple[float, float], radius: float) -> tuple:
    """A glass disc: interior alpha 0.3 to 0.55, a rim of alpha 0.85, a bright highlight."""
    y, x = grid(h, w)
    d = np.hypot(x - centre[0], y - centre[1])
    inside = np.clip(radius - d + 0.5, 0, 1)
    body = 0.3 + 0.25 * np.clip(d / radius, 0, 1) ** 2
    rim = np.clip(d - (radius - 7) + 0.5, 0, 1)
    alpha = inside * (body * (1 - rim) + 0.85 * rim)
    colour = np.array([205.0, 228.0, 250.0]) * np.ones((h, w, 1))
    hd = np.hypot(x - (centre[0] - 0.35 * radius), y - (centre[1] - 0.4 * radius))
    glow = np.clip(1 - hd / (0.25 * radius), 0, 1)[..., None]
    return alpha, colour * (1 - glow) + 255.0 * glow


def motion_blur(alpha: np.ndarray, length: int) -> np.ndarray:
    """Horizontal box blur of `length` (odd) pixels, zero outside the image."""
    pad = length // 2
    padded = np.pad(alpha, ((0, 0), (pad + 1, pad)))
    c = np.cumsum(padded, axis=1)
    return (c[:, length:] - c[:, :-length]) / length


def over(layers: list[tuple[np.ndarray, np.ndarray]], background: np.ndarray) -> np.ndarray:
    """Composite (alpha, colour) layers, first on top, over `background`; uint8 result."""
    image = background
    for alpha, colour in reversed(layers):
        image = alpha[..., None] * colour + (1 - alpha[..., None]) * image
    return np.clip(np.round(image), 0, 255).astype(np.uint8)


def to_u8(alpha: np.ndarray) -> np.ndarray:
    return np.clip(np.round(alpha * 255), 0, 255).astype(np.uint8)


def furball() -> dict:
    rng = np.random.default_rng(1)
    h, w = 360, 480
    body = blob(h, w, (240, 185), (95, 88), rng, wobble=0.08, feather=2.0)
    alpha = fur_around(body, (240, 185), 1400, rng, (12, 42))
    colour = fur_colour(h, w, rng, (120, 72, 38), (225, 170, 110))
    bg = tint(data.grass()[:h, :w], (0.45, 0.75, 0.35))
    return {"layers": {"0": (alpha, colour)}, "background": bg}


def cat() -> dict:
    rng = np.random.default_rng(2)
    photo = data.chelsea().astype(np.float64)
    h, w = photo.shape[:2]
    body = blob(h, w, (228, 158), (165, 140), rng, wobble=0.06, feather=3.0)
    alpha = fur_around(body, (228, 158), 1600, rng, (8, 26), curl=0.8)
    bg = tint(data.gravel()[:h, :w], (0.55, 0.62, 0.75))
    return {"layers": {"cat": (alpha, photo)}, "background": bg}


def astronaut() -> dict:
    rng = np.random.default_rng(3)
    photo = data.astronaut().astype(np.float64)
    h, w = photo.shape[:2]
    alpha = blob(h, w, (200, 300), (170, 285), rng, wobble=0.1, feather=5.0)
    bg = tint(data.brick()[:h, :w], (0.85, 0.5, 0.4))
    return {"layers": {"0": (alpha, photo)}, "background": bg}


def glass_over_coffee() -> dict:
    photo = data.coffee().astype(np.float64)
    h, w = photo.shape[:2]
    alpha, colour = glass(h, w, (400, 170), 110)
    return {"layers": {"0": (alpha, colour)}, "background": photo}


def motion() -> dict:
    h, w = 380, 560
    y, x = grid(h, w)
    ball = np.clip(70 - np.hypot(x - 280, y - 190) + 0.5, 0, 1)
    bar = ((np.abs(x - 280) < 110) & (np.abs(y - 280) < 10)).astype(np.float64)
    alpha = motion_blur(np.maximum(ball, bar), 61)
    t = (y / h)[..., None]
    colour = (1 - t) * np.array([210.0, 30.0, 40.0]) + t * np.array([250.0, 150.0, 30.0])
    bg = tint(np.tile(data.gravel(), (1, 2))[:h, :w], (0.8, 0.72, 0.55))
    return {"layers": {"ball": (alpha, colour)}, "background": bg}


def trio() -> dict:
    rng = np.random.default_rng(6)
    h, w = 400, 600
    body = blob(h, w, (110, 110), (55, 52), rng, wobble=0.08, feather=2.0)
    ball = fur_around(body, (110, 110), 700, rng, (8, 28))
    ball_colour = fur_colour(h, w, rng, (70, 70, 80), (200, 200, 215))
    disc, disc_colour = glass(h, w, (170, 300), 62)
    cup = blob(h, w, (450, 235), (120, 95), rng, wobble=0.05, feather=4.0)
    cup_colour = shift(data.coffee(), 450 - 295, 235 - 165, (h, w))
    bg = tint(np.tile(data.brick(), (1, 2))[:h, :w], (0.6, 0.65, 0.8))
    layers = {"ball": (ball, ball_colour), "glass": (disc, disc_colour), "cup": (cup, cup_colour)}
    return {"layers": layers, "background": bg}


SAMPLES: dict[str, tuple[Callable[[], dict], bool]] = {
    # stem: (maker, prompt in a sidecar <stem>.json rather than boxes.json)
    "furball": (furball, True),
    "cat": (cat, False),
    "astronaut": (astronaut, True),
    "glass": (glass_over_coffee, True),
    "motion": (motion, False),
    "trio": (trio, False),
}


def dump_json(obj: object) -> bytes:
    """Indented JSON with each box on one line."""
    text = json.dumps(obj, indent=2)
    text = re.sub(r"\[\s+([-\d,\s]+?)\s+\]", lambda m: "[" + " ".join(m[1].split()) + "]", text)
    return (text + "\n").encode()


def user_box(alpha8: np.ndarray) -> list[int]:
    """Tight box of alpha > 127 (inclusive pixel indices) grown by MARGIN, clipped."""
    ys, xs = np.nonzero(alpha8 > 127)
    h, w = alpha8.shape
    return [
        max(0, int(xs.min()) - MARGIN),
        max(0, int(ys.min()) - MARGIN),
        min(w - 1, int(xs.max()) + MARGIN),
        min(h - 1, int(ys.max()) + MARGIN),
    ]


def generate(out: Path) -> list[Path]:
    """Write every sample, prompt and ground truth under `out`; returns the paths."""
    written: list[Path] = []

    def put(rel: str, content: bytes) -> None:
        path = out / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
        written.append(path)

    boxes: dict[str, list[dict]] = {}
    for stem, (make, sidecar) in SAMPLES.items():
        sample = make()
        layers = sample["layers"]
        put(f"{stem}.png", png_bytes(over(list(layers.values()), sample["background"])))
        keep = np.ones_like(next(iter(layers.values()))[0])
        for alpha, _ in layers.values():
            keep *= 1 - alpha
        put(f"gt/{stem}.png", png_bytes(to_u8(1 - keep)))
        prompts = []
        for ident, (alpha, _) in layers.items():
            prompts.append({"id": ident, "box": user_box(to_u8(alpha))})
            if len(layers) > 1:
                put(f"gt_instances/{stem}/{ident}.png", png_bytes(to_u8(alpha)))
        if sidecar:
            put(f"{stem}.json", dump_json({"instances": prompts}))
        else:
            boxes[f"{stem}.png"] = prompts
    put("boxes.json", dump_json(boxes))
    # Ground truth is not input: `mam matte samples` skips folders holding this marker.
    put("gt/.mamignore", b"")
    put("gt_instances/.mamignore", b"")
    return written


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent
    for path in generate(target):
        print(path)
