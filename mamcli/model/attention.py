"""Fused attention for SAM's ViT image encoder.

segment-anything's `Attention` materialises the full (heads x L x L) score matrix, adds
the decomposed relative-position terms to it in two broadcast passes and runs softmax
over it: in the global blocks of ViT-B at 1024 px that is 800 MB of fp32 written and read
several times per block, and most of the encoder's time on a CPU. `SdpaAttention` keeps
the same module and parameters but computes the same function with
`torch.nn.functional.scaled_dot_product_attention`, the relative-position terms passed as
the additive attention mask and built a few query rows at a time, so no L x L tensor
larger than a small budget ever exists.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from segment_anything.modeling.image_encoder import Attention, ImageEncoderViT, get_rel_pos

AttentionKernel = Literal["sdpa", "reference"]
ATTENTION_KERNELS: tuple[str, ...] = ("sdpa", "reference")

# Bytes of attention mask built per chunk. On the CPU a chunk must stay under glibc's
# largest mmap threshold (32 MiB) so its memory is reused instead of page-faulted in anew.
MASK_CHUNK_BYTES = {"cpu": 16 << 20}
DEFAULT_MASK_CHUNK_BYTES = 512 << 20


def rel_pos_terms(
    q: torch.Tensor, rel_pos_h: torch.Tensor, rel_pos_w: torch.Tensor, height: int, width: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """The decomposed relative-position terms of segment-anything's `add_decomposed_rel_pos`.

    q: B x heads x (H W) x C. Returns rel_h (B x heads x H x W x H, indexed by the key row)
    and rel_w (B x heads x H x W x W, by the key column), contiguous, in q's dtype.
    """
    batch, heads, _, channels = q.shape
    r_q = q.reshape(batch * heads, height, width, channels)
    r_h = get_rel_pos(height, height, rel_pos_h).to(q.dtype)
    r_w = get_rel_pos(width, width, rel_pos_w).to(q.dtype)
    rel_h = torch.einsum("bhwc,hkc->bhwk", r_q, r_h)
    rel_w = torch.einsum("bhwc,wkc->bhwk", r_q, r_w)
    shape = (batch, heads, height, width)
    return rel_h.reshape(*shape, height).contiguous(), rel_w.reshape(*shape, width).contiguous()


def rows_per_chunk(
    batch: int, heads: int, height: int, width: int, item_bytes: int, budget: int
) -> int:
    """How many query rows of the mask fit the byte budget (at least one)."""
    row_bytes = batch * heads * width * height * width * item_bytes
    return max(1, min(height, budget // row_bytes))


class SdpaAttention(Attention):
    """segment-anything's `Attention` computed by `scaled_dot_product_attention`.

    Same parameters, same result up to float rounding (about 1e-6 in fp32). Instances are
    made by `set_attention_kernel`, which switches the class of existing modules.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, height, width, _ = x.shape
        tokens = height * width
        qkv = self.qkv(x).reshape(batch, tokens, 3, self.num_heads, -1).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)
        if not self.use_rel_pos:
            out = F.scaled_dot_product_attention(q, k, v, scale=self.scale)
        else:
            out = self._attend_with_rel_pos(q, k, v, height, width)
        out = out.view(batch, self.num_heads, height, width, -1).permute(0, 2, 3, 1, 4)
        return self.proj(out.reshape(batch, height, width, -1))

    def _attend_with_rel_pos(
        self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, height: int, width: int
    ) -> torch.Tensor:
        # Contiguous once here, or the kernel copies k and v again for every chunk.
        q, k, v = q.contiguous(), k.contiguous(), v.contiguous()
        rel_h, rel_w = rel_pos_terms(q, self.rel_pos_h, self.rel_pos_w, height, width)
        batch, heads = q.shape[:2]
        budget = MASK_CHUNK_BYTES.get(q.device.type, DEFAULT_MASK_CHUNK_BYTES)
        rows = rows_per_chunk(batch, heads, height, width, q.element_size(), budget)
        out = v.new_empty(v.shape)
        for top in range(0, height, rows):
            bottom = min(height, top + rows)
            mask = rel_h[:, :, top:bottom, :, :, None] + rel_w[:, :, top:bottom, :, None, :]
            queries = slice(top * width, bottom * width)
            out[:, :, queries] = F.scaled_dot_product_attention(
                q[:, :, queries],
                k,
                v,
                attn_mask=mask.view(batch, heads, (bottom - top) * width, height * width),
                scale=self.scale,
            )
        return out


def set_attention_kernel(encoder: torch.nn.Module, kernel: AttentionKernel) -> int:
    """Run the encoder's attention blocks with `kernel`; returns how many blocks it set.

    Switching is in place and reversible; weights are untouched. Encoders other than
    segment-anything's ViT (MobileSAM's TinyViT) are left as they are (returns 0).
    """
    if kernel not in ATTENTION_KERNELS:
        raise ValueError(f"unknown attention kernel {kernel!r}; use one of {ATTENTION_KERNELS}")
    if not isinstance(encoder, ImageEncoderViT):
        return 0
    cls = SdpaAttention if kernel == "sdpa" else Attention
    count = 0
    for block in encoder.blocks:
        if isinstance(block.attn, Attention):
            block.attn.__class__ = cls
            count += 1
    return count
