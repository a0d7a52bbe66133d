"""The fused SDPA attention computes segment-anything's attention function."""

from __future__ import annotations

import pytest
import torch
from segment_anything.modeling.image_encoder import Attention

from mamcli.model import attention
from mamcli.model.attention import SdpaAttention, rows_per_chunk, set_attention_kernel
from tests.helpers import make_tiny_sam


def _attention_pair(size: int, dim: int = 64, heads: int = 4) -> tuple[Attention, Attention]:
    torch.manual_seed(0)
    reference = Attention(dim, heads, qkv_bias=True, use_rel_pos=True, input_size=(size, size))
    with torch.no_grad():  # segment-anything initialises these to zero: make them matter
        reference.rel_pos_h.normal_(0, 1.0)
        reference.rel_pos_w.normal_(0, 1.0)
    fused = Attention(dim, heads, qkv_bias=True, use_rel_pos=True, input_size=(size, size))
    fused.load_state_dict(reference.state_dict())
    fused.__class__ = SdpaAttention
    return reference.eval(), fused.eval()


@pytest.mark.parametrize(("batch", "size", "budget"), [(1, 12, 1 << 30), (3, 7, 1 << 30)])
def test_sdpa_attention_matches_reference(batch: int, size: int, budget: int) -> None:
    reference, fused = _attention_pair(size)
    x = torch.randn(batch, size, size, 64)
    with torch.inference_mode():
        expected, got = reference(x), fused(x)
    assert got.shape == expected.shape
    torch.testing.assert_close(got, expected, atol=2e-5, rtol=1e-5)


def test_mask_built_in_row_chunks_gives_the_same_result(monkeypatch) -> None:
    """A small budget forces several chunks, the last one shorter than the others."""
    reference, fused = _attention_pair(11)
    x = torch.randn(2, 11, 11, 64)
    row_bytes = 2 * 4 * 11 * 11 * 11 * 4
    assert rows_per_chunk(2, 4, 11, 11, 4, 3 * row_bytes) == 3  # chunks of 3, 3, 3, 2 rows
    monkeypatch.setitem(attention.MASK_CHUNK_BYTES, "cpu", 3 * row_bytes)
    with torch.inference_mode():
        torch.testing.assert_close(fused(x), reference(x), atol=2e-5, rtol=1e-5)


def test_rows_per_chunk_bounds() -> None:
    assert rows_per_chunk(1, 12, 64, 64, 4, 16 << 20) == 1  # one row is 12.6 MB
    assert rows_per_chunk(1, 12, 64, 64, 4, 1) == 1  # never zero
    assert rows_per_chunk(1, 1, 4, 4, 4, 1 << 30) == 4  # never more than the grid


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
        assert set_attention_kernel(sam.image_encoder, "sdpa") == len(sam.image_encoder.blocks)
        assert all(type(b.attn) is SdpaAttention for b in sam.image_encoder.blocks)
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
    assert set_attention_kernel(torch.nn.Linear(2, 2), "sdpa") == 0
