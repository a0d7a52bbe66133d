"""The classic engine's see-through pass: glass gets a fractional alpha, opaque stays."""

from __future__ import annotations

import numpy as np
import pytest

from mamcli.engines.classic import ClassicConfig, ClassicEngine
from mamcli.engines.classic_trimap import transparency_prior
from mamcli.engines.closed_form import closed_form_with_prior, solve_alpha
from mamcli.results import Instance
from tests.engines.test_classic_quality import H, W, background, tight_box

BOX = (66, 36, 214, 184)


def disc(radius: float = 72) -> np.ndarray:
    y, x = np.mgrid[0:H, 0:W].astype(np.float64)
    return np.clip(radius - np.hypot(x - 140, y - 110) + 0.5, 0, 1)


@pytest.fixture(scope="module")
def glass_scene() -> tuple[np.ndarray, np.ndarray]:
    """A pale blue disc of alpha 0.4 (a 4 px rim of 0.85) over the striped texture."""
    inside = disc()
    rim = inside - disc(68)
    alpha = 0.4 * disc(68) + 0.85 * rim
    a = alpha[..., None]
    rgb = a * np.array([205.0, 228.0, 250.0]) + (1 - a) * background(np.random.default_rng(3))
    return np.round(rgb).astype(np.uint8), alpha


def test_see_through_disc_gets_a_fractional_alpha(glass_scene):
    rgb, gt = glass_scene
    core = disc(50) > 0.5
    [matte] = ClassicEngine().predict(rgb, [Instance(box=tight_box(gt > 0.2))])
    [opaque] = ClassicEngine(ClassicConfig(glass_density=1.0)).predict(
        rgb, [Instance(box=tight_box(gt > 0.2))]
    )
    assert opaque.alpha[core].mean() > 0.9  # without the pass the glass is opaque
    assert 0.2 < matte.alpha[core].mean() < 0.8
    assert np.abs(matte.alpha - gt)[core].mean() < np.abs(opaque.alpha - gt)[core].mean() - 0.2
    assert matte.alpha[gt == 0].max() < 0.1  # no halo around it


def test_opaque_object_with_a_few_blend_like_pixels_stays_opaque():
    rng = np.random.default_rng(4)
    alpha = disc()
    colour = np.array([235.0, 120.0, 60.0]) + rng.uniform(-20, 20, (H, W, 3))
    a = alpha[..., None]
    rgb = np.round(a * colour + (1 - a) * background(rng)).astype(np.uint8)
    [matte] = ClassicEngine().predict(rgb, [Instance(box=BOX)])
    core = disc(60) > 0.5
    assert matte.alpha[core].min() > 0.95


def test_transparency_prior_needs_dense_blends():
    mask = np.zeros((60, 120), bool)
    mask[10:50, 10:110] = True
    blend = np.full(mask.shape, -1.0, np.float32)
    blend[10:50, 10:60] = 0.4  # left half: every pixel a blend
    scattered = np.random.default_rng(0).uniform(size=mask.shape) < 0.3
    blend[:, 60:110][scattered[:, 60:110] & mask[:, 60:110]] = 0.5  # right: 30% blends
    clear, prior = transparency_prior(mask, blend, radius=5, density=0.8)
    assert clear[20:40, 15:50].all()
    assert not clear[:, 70:].any()
    assert not clear[~mask].any()
    assert np.allclose(prior[20:40, 15:50], 0.4)


def test_prior_gives_alpha_where_nothing_is_known_foreground(glass_scene):
    rgb, _ = glass_scene
    trimap = np.zeros((H, W), np.uint8)
    inside = disc(60) > 0.5
    trimap[inside] = 128
    weight = np.where(inside, np.float32(0.02), np.float32(0))
    prior = np.full((H, W), 0.4, np.float32)
    alpha = closed_form_with_prior(rgb, trimap, prior, weight)
    assert abs(alpha[disc(40) > 0.5].mean() - 0.4) < 0.1
    # with zero weight, the prior solve is the plain closed-form solve
    trimap[tight_box_slice()] = 255
    plain = solve_alpha(rgb, trimap)
    zero = closed_form_with_prior(rgb, trimap, prior, np.zeros((H, W), np.float32))
    assert np.abs(plain - zero).max() < 1e-3


def tight_box_slice() -> tuple[slice, slice]:
    return slice(100, 120), slice(130, 150)
