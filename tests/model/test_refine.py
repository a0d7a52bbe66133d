"""Refinement: morphology bit-identical to OpenCV; both modes against a literal numpy version."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from mamcli.model.config import RefineConfig
from mamcli.model.refine import box_window, dilate, erode, refine


def _random_masks(seed: int, n: int = 3, h: int = 37, w: int = 53) -> torch.Tensor:
    rng = np.random.default_rng(seed)
    return torch.from_numpy(rng.random((n, h, w)) < rng.uniform(0.02, 0.5))


@pytest.mark.parametrize("size", [1, 2, 3, 4, 5, 6, 9, 10, 11, 14])
@pytest.mark.parametrize("backend", ["conv", "cv2"])
def test_dilate_and_erode_match_opencv(size: int, backend: str) -> None:
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size))
    for seed in range(3):
        masks = _random_masks(seed + 10 * size)
        got_d = dilate(masks, size, backend).numpy()
        got_e = erode(masks, size, backend).numpy()
        for n, plane in enumerate(masks.numpy().astype(np.uint8)):
            assert np.array_equal(got_d[n], cv2.dilate(plane, kernel).astype(bool))
            assert np.array_equal(got_e[n], cv2.erode(plane, kernel).astype(bool))


def test_box_window_is_half_open() -> None:
    mask = torch.zeros(1, 8, 8, dtype=torch.bool)
    mask[0, 2, 3] = mask[0, 5, 6] = True
    window = box_window(mask)[0].numpy()
    expected = np.zeros((8, 8), bool)
    expected[2:5, 3:6] = True
    assert np.array_equal(window, expected)
    assert not box_window(torch.zeros(1, 4, 4, dtype=torch.bool)).any()


def _literal_refine(os1, os4, os8, mask, mode, widths=(10, 20, 10)):
    """Spec section 4 written out step by step with numpy and OpenCV."""
    w8, w4, w1 = widths
    mask_u8 = mask.astype(np.uint8)
    if mode == "postprocess":
        alpha = os8.copy()
        ys, xs = np.nonzero(mask_u8)
        outside = np.ones_like(mask_u8)
        outside[ys.min() : ys.max(), xs.min() : xs.max()] = 0
        alpha[outside == 1] = mask_u8[outside == 1]
    else:
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (w8 // 2, w8 // 2))
        band = (mask_u8 == 0) & (cv2.erode(1 - mask_u8, kernel) == 0)
        alpha = mask_u8.astype(np.float32)
        alpha[band] = os8[band]
    for width, scale in ((w4, os4), (w1, os1)):
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (width // 2, width // 2))
        unknown = cv2.dilate((alpha >= 1.0 / 255.0).astype(np.uint8), kernel).astype(bool)
        unknown &= ~(alpha > 1 - 1.0 / 255.0)
        alpha[unknown] = scale[unknown]
    return alpha


@pytest.mark.parametrize("mode", ["postprocess", "maskguide"])
@pytest.mark.parametrize("backend", ["conv", "cv2"])
def test_refine_matches_literal_spec(mode: str, backend: str) -> None:
    rng = np.random.default_rng(1)
    h, w = 64, 80
    yy, xx = np.mgrid[:h, :w]
    mask = np.hypot(yy - 30, xx - 40) < 18
    # Scales with exact 0s and 1s and soft values, like real tanh outputs.
    os1, os4, os8 = (
        np.clip(rng.normal(mask.astype(np.float32), 0.4), 0, 1).astype(np.float32) for _ in range(3)
    )
    got = refine(
        *(torch.from_numpy(a)[None] for a in (os1, os4, os8)),
        torch.from_numpy(mask)[None],
        RefineConfig(mode=mode),
        backend=backend,
    )[0].numpy()
    expected = _literal_refine(os1, os4, os8, mask, mode)
    assert np.array_equal(got, expected)
    assert not np.array_equal(got, os8)  # refinement did something


@pytest.mark.parametrize("mode", ["postprocess", "maskguide"])
def test_empty_mask_gives_zero_alpha(mode: str) -> None:
    ones = torch.ones(1, 20, 20)
    alpha = refine(ones, ones, ones, torch.zeros(1, 20, 20, dtype=torch.bool), RefineConfig(mode))
    assert alpha.shape == (1, 20, 20)
    assert float(alpha.abs().max()) == 0.0


def test_refine_config_validates() -> None:
    with pytest.raises(ValueError, match="--refine: unknown value 'box'"):
        RefineConfig(mode="box")
    with pytest.raises(ValueError, match="widths"):
        RefineConfig(widths=(10, 1, 10))
