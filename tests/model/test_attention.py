"""Both fast attention paths compute segment-anything's attention function."""

from __future__ import annotations

import pytest
import torch
from segment_anything.modeling.image_encoder import Attention

from mamcli.model import attention
from mamcli.model.attention import SdpaAttention, key_positions, set_attention_kernel
from mamcli.model.devices import has_amx
from tests.helpers import make_tiny_sam


def _attention_pair(
    size: int, kernel: str = "auto", dim: int = 64, heads: int = 4
) -> tuple[Attention, Attention]:
    torch.manual_seed(0)
    reference = Attention(dim, heads, qkv_bias=True, use_rel_pos=True, input_size=(size, size))
    with torch.no_grad():  # segment-anything initialises these to zero: make them matter
        reference.rel_pos_h.normal_(0, 1.0)
        reference.rel_pos_w.normal_(0, 1.0)
    fused = Attention(dim, heads, qkv_bias=True, use_rel_pos=True, input_size=(size, size))
    fused.load_state_dict(reference.state_dict())
    fused.__class__ = SdpaAttention
    fused.kernel = kernel
    return reference.eval(), fused.eval()


@pytest.mark.parametrize("kernel", ["fold", "scores"])
@pytest.mark.parametrize(  # heads of 16 channels: at side 7 the scores path folds the bias into
    ("batch", "size", "block"),  # q.k (7 + 7 <= 16), at side 12 it adds it to the scores
    [
        (1, 12, 1 << 21),  # one chunk holds every head
        (3, 7, 5 * 49**2),  # 5 of the 12 heads per chunk, the last chunk 2
        (1, 12, 144**2 // 3),  # 48 query rows of one head per chunk
        (2, 7, 49 * 10),  # 10 rows per chunk, the last chunk 9
    ],
)
def test_fast_attention_matches_reference(
    kernel: str, batch: int, size: int, block: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(attention, "SCORE_BLOCK", block)
    reference, fused = _attention_pair(size, kernel)
    x = torch.randn(batch, size, size, 64)
    with torch.inference_mode():
        expected, got = reference(x), fused(x)
    assert got.shape == expected.shape
    torch.testing.assert_close(got, expected, atol=2e-5, rtol=1e-5)


def test_key_positions_are_row_then_column_one_hots() -> None:
    positions = key_positions(2, 3, torch.float32, torch.device("cpu"))
    assert positions.shape == (6, 5)
    assert positions[4].tolist() == [0, 1, 0, 1, 0]  # token 4 sits in row 1, column 1
    assert torch.equal(positions.sum(dim=1), torch.full((6,), 2.0))


def test_auto_takes_the_scores_path_on_the_cpu_except_bf16_with_amx() -> None:
    x = torch.randn(2, 9, 9, 64)
    _, auto = _attention_pair(9, "auto")
    _, fold = _attention_pair(9, "fold")
    _, scores = _attention_pair(9, "scores")
    with torch.inference_mode():
        assert torch.equal(auto(x), scores(x))
        low = x.bfloat16()
        auto, fold, scores = (m.to(torch.bfloat16) for m in (auto, fold, scores))
        assert not torch.equal(fold(low), scores(low))  # the two paths round differently
        assert torch.equal(auto(low), (fold if has_amx() else scores)(low))


@pytest.mark.parametrize("kernel", ["fold", "scores"])
@pytest.mark.parametrize("size", [5, 14])
def test_fast_attention_in_bf16_is_as_close_to_fp32_as_the_reference(
    kernel: str, size: int
) -> None:
    """bf16 weights: each fast path's error against fp32 is no larger than the reference's."""
    reference, fused = _attention_pair(size, kernel)
    x = torch.randn(2, size, size, 64)
    with torch.inference_mode():
        exact = reference(x)
        ref_bf16 = reference.to(torch.bfloat16)(x.bfloat16()).float()
        got = fused.to(torch.bfloat16)(x.bfloat16()).float()
    assert (got - exact).abs().max() <= 1.5 * (ref_bf16 - exact).abs().max()


def test_encoder_switches_kernel_in_place_and_back() -> None:
    sam = make_tiny_sam()
    with torch.no_grad():
        for block in sam.image_encoder.blocks:
            block.attn.rel_pos_h.normal_(0, 1.0)
            block.attn.rel_pos_w.normal_(0, 1.0)
    x = torch.randn(1, 3, 256, 256)
    state = {k: v.clone() for k, v in sam.state_dict().items()}
    with torch.inference_mode():
        expected = sam.image_encoder(x)
        assert set_attention_kernel(sam.image_encoder, "auto") == len(sam.image_encoder.blocks)
        assert all(type(b.attn) is SdpaAttention for b in sam.image_encoder.blocks)
        assert all(b.attn.kernel == "auto" for b in sam.image_encoder.blocks)
        fused = sam.image_encoder(x)
        assert set_attention_kernel(sam.image_encoder, "reference") == 2
        again = sam.image_encoder(x)
    torch.testing.assert_close(fused, expected, atol=1e-4, rtol=1e-4)
    assert torch.equal(again, expected)
    for key, value in sam.state_dict().items():
        assert torch.equal(value, state[key]), key


def test_unknown_kernel_and_other_encoders() -> None:
    with pytest.raises(ValueError, match="unknown attention kernel"):
        set_attention_kernel(make_tiny_sam().image_encoder, "flash")  # type: ignore[arg-type]
    assert set_attention_kernel(torch.nn.Linear(2, 2), "auto") == 0
