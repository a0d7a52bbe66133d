"""The folded inference copy of M2M and the inference options of MattingAnything."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from torch import nn

from mamcli.errors import UsageError
from mamcli.model.api import REFERENCE_OPTIONS, InferenceOptions, MattingAnything
from mamcli.model.devices import bf16_beats_fp32_on_cpu, cpu_vendor, has_amx, resolve_precision
from mamcli.model.fold import ConvLeaky, fold_for_inference
from mamcli.model.m2m import SpectralNorm, converge_spectral_norms
from tests.helpers import make_random_m2m, make_tiny_sam, synthetic_photo


def _inputs(batch: int = 2) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    torch.manual_seed(1)
    return (
        torch.randn(batch, 256, 8, 8),
        torch.randn(batch, 3, 128, 128),
        (torch.randn(batch, 1, 32, 32) > 0).float(),
    )


def _converged_m2m():
    """make_random_m2m with u, v at the top singular pair: moderate activations."""
    return converge_spectral_norms(make_random_m2m())


def _logits(model: nn.Module, inputs) -> list[torch.Tensor]:
    """The pre-tanh logits of the three heads (random weights saturate the alphas)."""
    captured: list[torch.Tensor] = []
    heads = (model.refine_OS1, model.refine_OS4, model.refine_OS8)
    hooks = [h[-1].register_forward_hook(lambda m, i, o: captured.append(o)) for h in heads]
    with torch.inference_mode():
        model(*inputs)
    for hook in hooks:
        hook.remove()
    return sorted(captured, key=lambda t: t.shape[-1])


def test_folded_m2m_equals_the_original() -> None:
    m2m = _converged_m2m()
    state = {k: v.clone() for k, v in m2m.state_dict().items()}
    folded = fold_for_inference(m2m)
    expected, got = _logits(m2m, _inputs()), _logits(folded, _inputs())
    assert [t.shape[-1] for t in expected] == [16, 32, 128]
    for g, e in zip(got, expected, strict=True):
        assert (e > 0).any() and (e < 0).any()
        torch.testing.assert_close(g, e, atol=1e-5, rtol=1e-4)
    kinds = {type(module) for module in folded.modules()}
    assert nn.BatchNorm2d not in kinds and SpectralNorm not in kinds
    for key, value in m2m.state_dict().items():  # the original is untouched
        assert torch.equal(value, state[key]), key


@pytest.mark.parametrize("layout", [torch.contiguous_format, torch.channels_last])
def test_fused_convolutions_equal_the_unfused_ones(layout) -> None:
    """Convolution + LeakyReLU as one oneDNN call: the same logits in fp32, and within
    bf16 rounding in bf16."""
    m2m = _converged_m2m()
    fused, plain = fold_for_inference(m2m), fold_for_inference(m2m, fuse=False)
    assert all(m.fuse for m in fused.modules() if isinstance(m, ConvLeaky))
    assert not any(m.fuse for m in plain.modules() if isinstance(m, ConvLeaky))
    assert sum(isinstance(m, ConvLeaky) for m in fused.modules()) == 12
    inputs = [t.contiguous(memory_format=layout) for t in _inputs(1)]
    for dtype, tolerance in ((torch.float32, 1e-5), (torch.bfloat16, 0.1)):
        fused, plain = fused.to(dtype, memory_format=layout), plain.to(dtype, memory_format=layout)
        cast = [t.to(dtype) for t in inputs]
        for g, e in zip(_logits(fused, cast), _logits(plain, cast), strict=True):
            assert g.dtype == dtype
            torch.testing.assert_close(g.float(), e.float(), atol=tolerance, rtol=tolerance)


def test_folded_m2m_in_channels_last_layout() -> None:
    m2m = _converged_m2m()
    folded = fold_for_inference(m2m).to(memory_format=torch.channels_last)
    inputs = [t.contiguous(memory_format=torch.channels_last) for t in _inputs(1)]
    for g, e in zip(_logits(folded, inputs), _logits(m2m, _inputs(1)), strict=True):
        torch.testing.assert_close(g.contiguous(), e, atol=1e-5, rtol=1e-4)


def _alphas(options: InferenceOptions) -> np.ndarray:
    model = MattingAnything(make_tiny_sam(), _converged_m2m(), options=options)
    model.set_image(synthetic_photo())
    boxes = [[40, 30, 200, 150], [10, 10, 120, 100], [100, 60, 230, 170]]
    return np.stack([m.alpha for m in model.predict(boxes=boxes)])


def test_fast_options_give_the_reference_alphas() -> None:
    reference = _alphas(REFERENCE_OPTIONS)
    assert ((reference > 0.01) & (reference < 0.99)).mean() > 0.01  # soft alphas compared
    for options in (InferenceOptions(), InferenceOptions(m2m_batch=2)):
        np.testing.assert_allclose(_alphas(options), reference, atol=1e-5)


def test_m2m_batch_defaults_by_device() -> None:
    assert InferenceOptions().m2m_batch_for(torch.device("cpu")) == 1
    assert InferenceOptions().m2m_batch_for(torch.device("cuda")) == 8
    assert InferenceOptions(m2m_batch=3).m2m_batch_for(torch.device("cpu")) == 3


@pytest.mark.parametrize(
    ("amx", "avx512_bf16", "vendor", "expected"),
    [
        (True, True, "GenuineIntel", True),
        (False, True, "GenuineIntel", False),  # measured slower than fp32 there
        (False, True, "AuthenticAMD", True),  # Zen 4
        (False, False, "AuthenticAMD", False),  # Zen 3 and older: bf16 is emulated
        (False, False, "", False),
    ],
)
def test_bf16_counts_as_fast_on_amx_and_on_amd_avx512_bf16(
    amx: bool, avx512_bf16: bool, vendor: str, expected: bool
) -> None:
    assert bf16_beats_fp32_on_cpu(amx, avx512_bf16, vendor) is expected


def test_auto_precision_on_this_cpu_follows_the_rule() -> None:
    cpu = torch.device("cpu")
    fast = bf16_beats_fp32_on_cpu(has_amx(), torch.cpu._is_avx512_bf16_supported(), cpu_vendor())
    assert resolve_precision("auto", cpu) == ("bf16" if fast else "fp32")
    assert resolve_precision("fp16", cpu) == "fp16"


def test_compiled_model_gives_the_eager_alphas() -> None:
    """torch.compile of the encoder and folded M2M (inductor, C++ on the CPU): slow to
    build, so one small image."""
    eager = _alphas(InferenceOptions())
    np.testing.assert_allclose(_alphas(InferenceOptions(compile=True)), eager, atol=1e-5)


def test_a_low_precision_unfolded_m2m_is_a_copy_the_callers_module_stays_fp32() -> None:
    m2m = _converged_m2m()
    model = MattingAnything(
        make_tiny_sam(), m2m, precision="bf16", options=InferenceOptions(fold_m2m=False)
    )
    assert next(model.m2m.parameters()).dtype == torch.bfloat16
    assert all(p.dtype == torch.float32 for p in m2m.parameters())


def _alpha_os1(model: nn.Module, inputs, band_rows: int | None) -> torch.Tensor:
    model.os1_band_rows = band_rows
    with torch.inference_mode():
        return model(*inputs).alpha_os1


@pytest.mark.parametrize("rows", [8, 24, 40])
@pytest.mark.parametrize("height", [16, 20])  # embedding rows: 256 and 320 output rows
def test_full_scale_stage_in_bands_equals_the_whole_maps(rows: int, height: int) -> None:
    """Bands of `rows` output rows (the last band shorter where they do not divide the
    height), for M2M itself and its folded NHWC inference copy."""
    torch.manual_seed(2)
    inputs = (
        torch.randn(1, 256, height, 12),
        torch.randn(1, 3, 16 * height, 192),
        (torch.randn(1, 1, 4 * height, 48) > 0).float(),
    )
    m2m = _converged_m2m()
    folded = fold_for_inference(m2m).to(memory_format=torch.channels_last)
    for model in (m2m, folded):
        whole = _alpha_os1(model, inputs, None)
        assert whole.shape[-2:] == (16 * height, 192) and whole.std() > 0.01
        torch.testing.assert_close(_alpha_os1(model, inputs, rows), whole, atol=1e-6, rtol=1e-6)


def test_bands_need_their_margin(monkeypatch: pytest.MonkeyPatch) -> None:
    """One input row less around each band changes the rows at the seams: the margin is
    what makes the bands exact."""
    inputs = _inputs(1)
    m2m = _converged_m2m()
    whole = _alpha_os1(m2m, inputs, None)
    monkeypatch.setattr("mamcli.model.m2m.OS1_BAND_MARGIN", 1)
    assert (_alpha_os1(m2m, inputs, 32) - whole).abs().max() > 1e-4


def test_band_rows_default_by_device_and_reach_the_inference_copy() -> None:
    assert InferenceOptions().m2m_band_rows_for(torch.device("cpu")) == 256
    assert InferenceOptions().m2m_band_rows_for(torch.device("cuda")) is None
    assert InferenceOptions(m2m_band_rows=0).m2m_band_rows_for(torch.device("cpu")) is None
    assert InferenceOptions(m2m_band_rows=64).m2m_band_rows_for(torch.device("cuda")) == 64
    m2m = _converged_m2m()
    model = MattingAnything(make_tiny_sam(), m2m, options=InferenceOptions(m2m_band_rows=64))
    assert model.m2m.os1_band_rows == 64 and m2m.os1_band_rows is None


@pytest.mark.parametrize(
    ("kwargs", "problem"),
    [
        ({"m2m_band_rows": -1}, "InferenceOptions.m2m_band_rows: must be at least 0"),
        ({"m2m_batch": 0}, "InferenceOptions.m2m_batch: must be at least 1"),
        ({"attention": "flash"}, "InferenceOptions.attention: unknown value 'flash'"),
    ],
)
def test_inference_options_are_checked_where_they_are_declared(kwargs, problem) -> None:
    with pytest.raises(UsageError, match=f"^{re.escape(problem)}"):
        InferenceOptions(**kwargs)
