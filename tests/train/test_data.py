"""Training data: layouts and their errors, composition, boxes, trimaps, weighted sampling."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from mamcli.errors import InputError, MamError
from mamcli.train.config import RootSpec
from mamcli.train.data import (
    MattingDataset,
    make_sampler,
    make_trimap,
    scan_root,
    split_holdout,
    tight_box,
)


def write_image(path: Path, image: np.ndarray) -> None:
    """Write an RGB or greyscale uint8 image, creating its folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    bgr = cv2.cvtColor(image, cv2.COLOR_RGB2BGR) if image.ndim == 3 else image
    assert cv2.imwrite(str(path), bgr)


def soft_ellipse(height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    """uint8 alpha of an ellipse with a soft edge a few pixels wide."""
    yy, xx = np.mgrid[:height, :width]
    cy, cx = rng.uniform(0.35, 0.65) * height, rng.uniform(0.35, 0.65) * width
    ry, rx = rng.uniform(0.15, 0.3) * height, rng.uniform(0.15, 0.3) * width
    dist = np.hypot((yy - cy) / ry, (xx - cx) / rx)
    return (np.clip((1 - dist) * min(ry, rx) / 3 + 0.5, 0, 1) * 255).round().astype(np.uint8)


def make_dataset(
    root: Path, count: int = 6, size: tuple[int, int] = (80, 96), layout: str = "fg", seed: int = 0
) -> Path:
    """A real folder of PNGs: fg/ + alpha/ + bg/ (layout "fg") or image/ + alpha/."""
    rng = np.random.default_rng(seed)
    h, w = size
    for i in range(count):
        color = rng.integers(0, 256, 3)
        fg = np.clip(color + rng.normal(0, 20, (h, w, 3)), 0, 255).astype(np.uint8)
        write_image(root / layout / f"s{i}.png", fg)
        write_image(root / "alpha" / f"s{i}.png", soft_ellipse(h, w, rng))
    if layout == "fg":
        for j in range(2):
            write_image(
                root / "bg" / f"b{j}.jpg", rng.integers(0, 256, (h + 10, w + 20, 3), np.uint8)
            )
    return root


def test_scan_fg_layout_pairs_stems_and_finds_backgrounds(tmp_path: Path) -> None:
    samples = scan_root(make_dataset(tmp_path / "d"))
    assert [s.alpha.stem for s in samples] == [f"s{i}" for i in range(6)]
    assert all(s.color.parent.name == "fg" and len(s.backgrounds) == 2 for s in samples)


def test_scan_image_layout_needs_no_backgrounds(tmp_path: Path) -> None:
    samples = scan_root(make_dataset(tmp_path / "d", layout="image"))
    assert len(samples) == 6 and all(s.composited for s in samples)


@pytest.mark.parametrize(
    ("breakage", "message"),
    [
        (lambda r: (r / "alpha" / "s1.png").unlink(), "no matching alpha/s1"),
        (lambda r: (r / "fg" / "s2.png").unlink(), "no matching fg/s2"),
        (lambda r: [p.unlink() for p in (r / "bg").iterdir()], "no background images"),
        (lambda r: (r / "bg").rename(r / "other"), "needs backgrounds"),
        (lambda r: (r / "image").mkdir(), "expected the layout"),
        (lambda r: (r / "alpha" / "s3.png").write_bytes(b"not a png"), "not a readable image"),
        (
            lambda r: cv2.imwrite(str(r / "alpha" / "s0.png"), np.zeros((5, 5), np.uint8)),
            "size differs",
        ),
    ],
)
def test_bad_layouts_give_one_clear_error(tmp_path: Path, breakage, message: str) -> None:
    root = make_dataset(tmp_path / "d")
    breakage(root)
    with pytest.raises(InputError, match=message):
        scan_root(root)


def test_backgrounds_option_replaces_bg_folder(tmp_path: Path) -> None:
    root = make_dataset(tmp_path / "d")
    (root / "bg").rename(tmp_path / "bgs")
    samples = scan_root(root, backgrounds=tmp_path / "bgs")
    assert samples[0].backgrounds[0].parent == tmp_path / "bgs"


def test_root_spec_parses_weights() -> None:
    assert RootSpec.parse("data/a:0.5") == RootSpec(Path("data/a"), 0.5)
    assert RootSpec.parse("data/a") == RootSpec(Path("data/a"))
    assert RootSpec.parse("data/a:b") == RootSpec(Path("data/a:b"))
    with pytest.raises(MamError, match="positive"):
        RootSpec.parse("data/a:0")


def test_fixed_item_is_the_composition_of_fg_and_bg(tmp_path: Path) -> None:
    """Without augmentation, crop = image size = background size: image = a F + (1 - a) B."""
    root = tmp_path / "d"
    rng = np.random.default_rng(1)
    fg = rng.integers(0, 256, (64, 64, 3), np.uint8)
    bg = rng.integers(0, 256, (64, 64, 3), np.uint8)
    alpha = soft_ellipse(64, 64, rng)
    write_image(root / "fg" / "x.png", fg)
    write_image(root / "bg" / "b.png", bg)
    write_image(root / "alpha" / "x.png", alpha)
    item = MattingDataset(scan_root(root), image_size=64, crop_size=64, augment=False)[0]
    a = alpha.astype(np.float32)[..., None] / 255
    expected = np.rint(a * fg + (1 - a) * bg).astype(np.uint8).transpose(2, 0, 1)
    assert np.abs(item["image"].numpy().astype(int) - expected).max() == 0
    assert torch.equal(item["alpha"][0], torch.from_numpy(alpha / np.float32(255)))
    ys, xs = np.nonzero(alpha > 127.5)
    assert item["box"].tolist() == [xs.min(), ys.min(), xs.max(), ys.max()]


@pytest.mark.parametrize("layout", ["fg", "image"])
def test_augmented_items_have_sam_size_and_consistent_box_and_trimap(
    tmp_path: Path, layout: str
) -> None:
    samples = scan_root(make_dataset(tmp_path / "d", layout=layout))
    dataset = MattingDataset(samples, image_size=64, crop_size=48, augment=True)
    torch.manual_seed(0)
    first = dataset[0]
    assert first["image"].shape == (3, 64, 64) and first["image"].dtype == torch.uint8
    assert first["alpha"].shape == (1, 64, 64) and first["trimap"].shape == (1, 64, 64)
    alpha = first["alpha"][0].numpy()
    assert alpha.min() >= 0 and alpha.max() <= 1
    assert first["box"].tolist() == tight_box(alpha).tolist()
    trimap = first["trimap"][0].numpy()
    assert set(np.unique(trimap)) <= {0, 128, 255}
    assert (trimap[(alpha > 0.01) & (alpha < 0.99)] == 128).all()
    assert not torch.equal(first["image"], dataset[0]["image"])  # a new random draw


def test_trimap_unknown_band_grows_with_width() -> None:
    alpha = np.zeros((40, 40), np.float32)
    alpha[10:30, 10:30] = 1.0
    alpha[10:30, 20] = 0.5
    narrow, wide = make_trimap(alpha, 1), make_trimap(alpha, 9)
    assert (narrow == 128).sum() == 20  # the soft column only
    assert (wide == 128).sum() > (narrow == 128).sum()
    assert (wide[alpha == 0.5] == 128).all()


def test_holdout_split_is_disjoint_and_deterministic(tmp_path: Path) -> None:
    samples = scan_root(make_dataset(tmp_path / "d"))
    train, val = split_holdout(samples, 0.1)
    assert len(val) == 1 and len(train) == 5 and not set(train) & set(val)
    assert split_holdout(samples, 0.1) == (train, val)


def test_weighted_sampler_follows_root_weights_and_shards_ranks() -> None:
    sizes = [10, 90]
    counts = Counter()
    shards = []
    for rank in range(2):
        sampler = make_sampler(sizes, [3.0, 1.0], rank, 2, seed=0)
        sampler.set_epoch(1)
        indices = list(sampler)
        shards.append(indices)
        counts.update("a" if i < 10 else "b" for i in indices)
    assert len(shards[0]) == len(shards[1]) == 50
    share_a = counts["a"] / 100
    assert 0.6 < share_a < 0.9  # 0.75 expected; 0.1 if the weights were ignored
    unweighted = make_sampler(sizes, [None, None], 0, 2, seed=0)
    assert isinstance(unweighted, torch.utils.data.DistributedSampler) and len(unweighted) == 50
