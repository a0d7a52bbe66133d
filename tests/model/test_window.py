"""M2M run on the window refinement can read gives the alphas of M2M run on the whole image."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from mamcli.model import window as window_module
from mamcli.model.api import MattingAnything
from mamcli.model.config import InferenceOptions, RefineConfig
from mamcli.model.fold import fold_for_inference
from mamcli.model.m2m import converge_spectral_norms
from mamcli.model.refine import refine
from mamcli.model.sam import TINY_CONFIG, build_sam
from mamcli.model.window import Window, m2m_window, run_in_window
from tests.helpers import make_random_m2m

SIZE = 512  # M2M input side: large enough for a window to be smaller than the image


def _inputs(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    torch.manual_seed(seed)
    embedding = torch.randn(1, 256, SIZE // 16, SIZE // 16)
    image = torch.randn(1, 3, SIZE, SIZE)
    return embedding, image


def _object(height: int, width: int, box: tuple[int, int, int, int]) -> torch.Tensor:
    """A 1 x H x W mask: an ellipse inside box (top, left, bottom, right)."""
    top, left, bottom, right = box
    ys, xs = torch.meshgrid(torch.arange(height), torch.arange(width), indexing="ij")
    cy, cx, ry, rx = (top + bottom) / 2, (left + right) / 2, (bottom - top) / 2, (right - left) / 2
    return (((ys - cy) / ry) ** 2 + ((xs - cx) / rx) ** 2 <= 1)[None]


def _final_alpha(out, size: tuple[int, int], post_mask: torch.Tensor, config: RefineConfig):
    h, w = size
    scales = [
        F.interpolate(a[..., :h, :w], post_mask.shape[-2:], mode="bilinear")[:, 0]
        for a in (out.alpha_os1, out.alpha_os4, out.alpha_os8)
    ]
    return refine(*scales, post_mask, config)


@pytest.fixture(scope="module")
def m2m() -> torch.nn.Module:
    return fold_for_inference(converge_spectral_norms(make_random_m2m()))


@pytest.mark.parametrize("mode", ["postprocess", "maskguide"])
@pytest.mark.parametrize(
    ("original", "box"),
    [((400, 512), (150, 200, 260, 330)), ((600, 640), (0, 420, 180, 640))],  # inside; a corner
)
def test_windowed_m2m_gives_the_whole_image_alpha(m2m, mode, original, box) -> None:
    embedding, image = _inputs()
    post_mask = _object(*original, box)
    scale = SIZE / max(original)
    input_size = (round(original[0] * scale), round(original[1] * scale))
    padding = (0, SIZE - input_size[1], 0, SIZE - input_size[0])
    guide = F.interpolate(
        F.pad(F.interpolate(post_mask[None].float(), input_size), padding), SIZE // 4
    )
    config = RefineConfig(mode=mode)
    window = m2m_window(post_mask, input_size, SIZE, config)
    assert window is not None and window.area < SIZE * SIZE * 0.8  # it really crops
    assert all(v % 16 == 0 for v in (window.top, window.left, window.bottom, window.right))
    with torch.inference_mode():
        whole = _final_alpha(m2m(embedding, image, guide), input_size, post_mask, config)
        cropped = run_in_window(m2m, window, embedding, image, guide)
        windowed = _final_alpha(cropped, input_size, post_mask, config)
    assert float(whole.max()) > 0.1  # M2M's alpha reaches the result
    torch.testing.assert_close(windowed, whole, atol=1e-5, rtol=0)


def test_a_halo_smaller_than_m2m_reach_changes_the_alpha(m2m, monkeypatch) -> None:
    """The comparison above can fail: with a 16-pixel halo the crop's borders show."""
    monkeypatch.setattr(window_module, "HALO", 16)
    embedding, image = _inputs()
    post_mask = _object(SIZE, SIZE, (180, 180, 330, 330))
    guide = F.interpolate(post_mask[None].float(), SIZE // 4)
    config = RefineConfig()
    window = m2m_window(post_mask, (SIZE, SIZE), SIZE, config)
    with torch.inference_mode():
        whole = _final_alpha(m2m(embedding, image, guide), (SIZE, SIZE), post_mask, config)
        windowed = _final_alpha(
            run_in_window(m2m, window, embedding, image, guide), (SIZE, SIZE), post_mask, config
        )
    assert float((windowed - whole).abs().max()) > 1e-5  # measured 8e-5 (0 with the halo)


def test_empty_masks_have_no_window_and_windows_stay_inside_the_image() -> None:
    config = RefineConfig()
    assert m2m_window(torch.zeros(2, 50, 60, dtype=torch.bool), (427, 512), SIZE, config) is None
    full = m2m_window(torch.ones(1, 50, 60, dtype=torch.bool), (427, 512), SIZE, config)
    assert full == Window(0, 0, SIZE, SIZE, SIZE)
    # two masks in one batch share a window covering both
    masks = torch.zeros(2, SIZE, SIZE, dtype=torch.bool)
    masks[0, 10:20, 10:20] = masks[1, 400:410, 400:410] = True
    both = m2m_window(masks, (SIZE, SIZE), SIZE, config)
    assert (both.top, both.left, both.bottom, both.right) == (0, 0, SIZE, SIZE)
    one = m2m_window(masks[:1], (SIZE, SIZE), SIZE, config)
    assert (one.top, one.left) == (0, 0) and one.bottom == one.right == 176  # 20 + 20 + 128, up


def _matting(crop: bool) -> MattingAnything:
    torch.manual_seed(0)
    sam = build_sam(replace(TINY_CONFIG, img_size=SIZE)).eval()
    m2m = converge_spectral_norms(make_random_m2m())
    return MattingAnything(sam, m2m, options=InferenceOptions(crop_m2m=crop))


@pytest.mark.filterwarnings("ignore:.*SAM found no mask")
def test_matting_with_and_without_the_window_agree_and_empty_masks_skip_m2m() -> None:
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 255, (300, 400, 3), dtype=np.uint8)
    boxes = [(40.0, 30.0, 160.0, 140.0), (200.0, 150.0, 390.0, 290.0), (0.0, 0.0, 400.0, 300.0)]
    results = {}
    for crop in (False, True):
        mam = _matting(crop)
        mam.set_image(rgb)
        results[crop] = [m.alpha for m in mam.predict(boxes=boxes)]
    assert any(alpha.max() > 0.1 for alpha in results[False])  # M2M's alpha reaches the result
    for plain, cropped in zip(results[False], results[True], strict=True):
        np.testing.assert_allclose(cropped, plain, atol=1e-4, rtol=0)

    mam = _matting(True)
    calls = []
    inner = mam.m2m
    mam.m2m = lambda *inputs: calls.append(1) or inner(*inputs)
    image = mam.encode([mam.sam.prepare(rgb)])[0]
    empty = torch.zeros(1, 300, 400, dtype=torch.bool)
    guide = torch.zeros(1, 1, SIZE // 4, SIZE // 4)
    scales = mam._m2m_scales(image, guide, empty, RefineConfig(), crop=True)
    assert not calls
    assert all(float(s.abs().max()) == 0 and s.shape == (1, 300, 400) for s in scales.values())
