"""The classic engine (GrabCut + closed-form) on synthetic images with a known alpha."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from mamcli.engines.classic import ClassicConfig, ClassicEngine
from mamcli.engines.closed_form import refine_mask_cf
from mamcli.errors import InputError
from mamcli.imaging.trimap import trimap_from_mask
from mamcli.results import Instance

H, W = 240, 320
BOX = (85, 45, 235, 195)  # tight box of the disc plus a few pixels


def sad(pred: np.ndarray, gt: np.ndarray) -> float:
    """SAD / 1000 of two [0, 1] alphas, after 8-bit quantisation as in the benchmarks."""
    p, g = np.round(pred * 255), np.round(gt * 255)
    return float(np.abs(p - g).sum() / 255 / 1000)


@pytest.fixture(scope="module")
def scene() -> tuple[np.ndarray, np.ndarray]:
    """A soft yellow disc (6 px ramp) over a noisy striped texture; (rgb, alpha)."""
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:H, 0:W]
    alpha = np.clip((70 - np.hypot(x - 160, y - 120)) / 6 + 0.5, 0, 1)
    stripes = (40 + 40 * np.sin(x / 7 + y / 11))[..., None] * np.array([1, 0.6, 0.3])
    background = rng.uniform(0, 30, (H, W, 3)) + stripes + np.array([20, 70, 60])
    image = alpha[..., None] * np.array([240, 200, 60]) + (1 - alpha[..., None]) * background
    return np.round(image).astype(np.uint8), alpha


def box_baseline(box: tuple[int, int, int, int]) -> np.ndarray:
    base = np.zeros((H, W))
    base[box[1] : box[3] + 1, box[0] : box[2] + 1] = 1
    return base


def test_box_prompt_beats_box_baseline(scene):
    rgb, gt = scene
    [matte] = ClassicEngine().predict(rgb, [Instance(id="disc", box=BOX)])
    assert matte.alpha.shape == (H, W) and matte.alpha.dtype == np.float32
    assert matte.mask.dtype == bool and matte.mask.shape == (H, W)
    assert matte.score == 1.0 and matte.warning is None
    assert matte.alpha.min() >= 0 and matte.alpha.max() <= 1
    assert sad(matte.alpha, gt) < 0.15 * sad(box_baseline(BOX), gt)
    soft = (gt > 0.1) & (gt < 0.9)
    assert np.abs(matte.alpha[soft] - gt[soft]).mean() < 0.2  # the edge really is soft


def test_point_prompts(scene):
    rgb, gt = scene
    baseline = sad(box_baseline(BOX), gt)
    only_points = Instance(id="p", points=[(160, 120), (150, 100)], point_labels=[1, 1])
    with_negative = Instance(id="q", box=BOX, points=[(160, 120), (90, 50)], point_labels=[1, 0])
    mattes = ClassicEngine().predict(rgb, [only_points, with_negative])
    assert len(mattes) == 2
    for matte in mattes:
        assert sad(matte.alpha, gt) < 0.15 * baseline


def test_instances_are_independent_and_ordered(scene):
    rgb, _ = scene
    far = Instance(id="corner", box=(0, 0, 40, 40))
    disc = Instance(id="disc", box=BOX)
    first, second = ClassicEngine().predict(rgb, [disc, far])
    assert first.alpha[120, 160] > 0.9
    assert second.alpha[120, 160] < 0.1


@pytest.mark.parametrize(
    ("instance", "words"),
    [
        (Instance(id="a", box=(400, 10, 500, 90)), "outside the image"),
        (Instance(id="b", box=(-90, -90, -10, -5)), "outside the image"),
        (Instance(id="c", box=(50, 50, 50, 120)), "degenerate box"),
        (Instance(id="d", box=(80, 90, 60, 120)), "degenerate box"),
        (Instance(id="e", points=[(500, 10)], point_labels=[1]), "outside the image"),
        (Instance(id="f", points=[(50, 10)], point_labels=[0]), "foreground point"),
        (Instance(id="g", text="a cat"), "foreground point"),
        (Instance(id="h", points=[(5, 5)], point_labels=[2]), "label"),
    ],
)
def test_bad_prompts_raise_input_error(scene, instance, words):
    rgb, _ = scene
    with pytest.raises(InputError) as error:
        ClassicEngine().predict(rgb, [instance], source="photo.png")
    assert words in error.value.problem
    assert f"instance {instance.id!r}" in error.value.problem
    assert str(error.value).startswith("photo.png: ")


def test_box_over_whole_frame_still_segments(scene):
    rgb, _ = scene
    [matte] = ClassicEngine().predict(rgb, [Instance(box=(0, 0, W - 1, H - 1))])
    assert matte.alpha.shape == (H, W)
    assert matte.alpha[120, 160] > 0.5


def test_trimap_band_width():
    mask = np.zeros((60, 60), bool)
    mask[20:40, 20:40] = True
    trimap = trimap_from_mask(mask, 3)
    assert set(np.unique(trimap)) == {0, 128, 255}
    assert trimap[30, 30] == 255 and trimap[30, 5] == 0
    assert trimap[30, 17] == 128 and trimap[30, 22] == 128  # 3 px either side of the edge
    assert trimap[30, 16] == 0 and trimap[30, 23] == 255


def test_refine_mask_cf_softens_a_hard_mask(scene):
    rgb, gt = scene
    mask = gt > 0.5
    alpha = refine_mask_cf(rgb, mask)
    assert sad(alpha, gt) < 0.6 * sad(mask.astype(np.float64), gt)


def test_working_resolution_and_guided_upsampling(scene):
    """A working size below the image size takes the low-res + guided upsampling path."""
    rgb, gt = scene
    engine = ClassicEngine(ClassicConfig(working_size=160))
    [matte] = engine.predict(rgb, [Instance(box=BOX)])
    assert matte.alpha.shape == (H, W) and matte.mask.shape == (H, W)
    assert sad(matte.alpha, gt) < 0.2 * sad(box_baseline(BOX), gt)


LARGE = """
import json
import numpy as np
from mamcli.engines.classic import ClassicEngine
from mamcli.runtime.memory import peak_rss_mib
from mamcli.results import Instance
h, w = 4000, 6000
y = np.arange(h, dtype=np.float32)[:, None]
x = np.arange(w, dtype=np.float32)[None, :]
alpha = np.clip((1200 - np.sqrt((x - 3000) ** 2 + (y - 2000) ** 2)) / 20 + 0.5, 0, 1)
rgb = np.empty((h, w, 3), np.uint8)
rgb[..., 0] = alpha * 230 + (1 - alpha) * (40 + x % 97)
rgb[..., 1] = alpha * 190 + (1 - alpha) * (90 + y % 53)
rgb[..., 2] = alpha * 40 + (1 - alpha) * 120
[m] = ClassicEngine().predict(rgb, [Instance(box=(1780, 780, 4220, 3220))])
print(json.dumps({
    "alpha": [list(m.alpha.shape), str(m.alpha.dtype)],
    "mask": [list(m.mask.shape), str(m.mask.dtype)],
    "inside": float(m.alpha[2000, 3000]),
    "outside": float(m.alpha[100, 100]),
    "mean_error": float(np.abs(m.alpha[::4, ::4] - alpha[::4, ::4]).mean()),
    "peak_mb": peak_rss_mib(),  # not ru_maxrss: that one counts the pytest parent too
}))
"""


def test_large_image_is_processed_within_memory():
    """6000 x 4000 runs at the working resolution; the process stays under 1.5 GB."""
    pytest.importorskip("resource")
    done = subprocess.run([sys.executable, "-c", LARGE], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.splitlines()[-1])
    assert report["alpha"] == [[4000, 6000], "float32"]
    assert report["mask"] == [[4000, 6000], "bool"]
    assert report["inside"] == 1.0 and report["outside"] == 0.0
    assert report["mean_error"] < 0.005
    assert report["peak_mb"] < 1500
