"""Fused attention for SAM's ViT image encoder.

segment-anything's `Attention` materialises the full (heads x L x L) score matrix, adds
the decomposed relative-position terms to it in two broadcast passes and runs softmax
over it: in the global blocks of ViT-B at 1024 px that is 800 MB of fp32 written and read
several times per block. `SdpaAttention` keeps the same module and parameters but computes
the same function with one `scaled_dot_product_attention` call and no mask at all.

The relative-position bias of query i and key j is rel_h[i, row(j)] + rel_w[i, col(j)].
That is a dot product: append rel_h[i] and rel_w[i] to the (pre-scaled) query and the
one-hot vectors of row(j) and col(j) to the key, and q'.k' is exactly the biased score.
The fused CPU kernel needs values as wide as the keys, so v is zero-padded and the padding
cut from the output. A masked kernel call reads an L x L bias per head; this one does
(C + H + W) / C times the q.k work (and as much again on the padded v) instead, which is far
cheaper where matmuls are fast (bf16 on AMX, GPUs).

Where they are not (fp32 on a CPU; bf16 on a CPU without AMX, such as AMD's Zen 4, whose
fused bf16 kernel ran at a fifth of its matmul rate), the extra work costs more than the
memory passes it saves, so the "scores" path computes segment-anything's own function,
q.k, the two bias terms, softmax and the product with v, a few query rows of one head at
a time, so each score block stays in the last-level cache. "auto" takes that path on the
CPU except for bf16/fp16 with AMX, and the folded one there and on GPUs (measured:
docs/performance.md).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from mamcli.model.config import ATTENTION_KERNELS
from mamcli.model.devices import has_amx
from mamcli.model.sam_modules import image_encoder

Attention = image_encoder.Attention
ImageEncoderViT = image_encoder.ImageEncoderViT
PatchEmbed = image_encoder.PatchEmbed
get_rel_pos = image_encoder.get_rel_pos

SCORE_BLOCK = 1 << 21  # score elements per chunk of the "scores" path (8 MiB in fp32)


def rel_pos_terms(
    q: torch.Tensor, rel_pos_h: torch.Tensor, rel_pos_w: torch.Tensor, height: int, width: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """The decomposed relative-position terms of segment-anything's `add_decomposed_rel_pos`.

    q: B x heads x (H W) x C. Returns rel_h (B x heads x (H W) x H, indexed by the key row)
    and rel_w (B x heads x (H W) x W, by the key column), in q's dtype.
    """
    batch, heads, tokens, channels = q.shape
    r_q = q.reshape(batch * heads, height, width, channels)
    r_h = get_rel_pos(height, height, rel_pos_h).to(q.dtype)
    r_w = get_rel_pos(width, width, rel_pos_w).to(q.dtype)
    rel_h = torch.einsum("bhwc,hkc->bhwk", r_q, r_h)
    rel_w = torch.einsum("bhwc,wkc->bhwk", r_q, r_w)
    return rel_h.reshape(batch, heads, tokens, height), rel_w.reshape(batch, heads, tokens, width)


def key_positions(
    height: int, width: int, dtype: torch.dtype, device: torch.device
) -> torch.Tensor:
    """(H W) x (H + W): for each key token, one-hot of its row followed by one-hot of its column."""
    index = torch.arange(height * width, device=device)
    rows = F.one_hot(index // width, height)
    cols = F.one_hot(index % width, width)
    return torch.cat([rows, cols], dim=-1).to(dtype)


class SdpaAttention(Attention):
    """segment-anything's `Attention` computed by `scaled_dot_product_attention`.

    Same parameters, same result up to float rounding (about 1e-6 in fp32). Instances are
    made by `set_attention_kernel`, which switches the class of existing modules and sets
    `kernel` ("auto", "fold" or "scores": how the relative-position bias is applied).
    """

    kernel: str = "auto"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, height, width, _ = x.shape
        tokens = height * width
        qkv = self.qkv(x).reshape(batch, tokens, 3, self.num_heads, -1).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)
        if not self.use_rel_pos:
            out = F.scaled_dot_product_attention(q, k, v, scale=self.scale)
        elif self._by_scores(q):
            out = self._attend_by_scores(q, k, v, height, width)
        else:
            out = self._attend_with_rel_pos(q, k, v, height, width)
        out = out.reshape(batch, self.num_heads, height, width, -1).permute(0, 2, 3, 1, 4)
        return self.proj(out.reshape(batch, height, width, -1))

    def _attend_with_rel_pos(
        self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, height: int, width: int
    ) -> torch.Tensor:
        rel_h, rel_w = rel_pos_terms(q, self.rel_pos_h, self.rel_pos_w, height, width)
        positions = key_positions(height, width, k.dtype, k.device)
        q_aug = torch.cat([q * self.scale, rel_h, rel_w], dim=-1)
        k_aug = torch.cat([k, positions.expand(*k.shape[:2], -1, -1)], dim=-1)
        v_pad = F.pad(v, (0, height + width))
        out = F.scaled_dot_product_attention(q_aug, k_aug, v_pad, scale=1.0)
        return out[..., : v.shape[-1]]

    def _by_scores(self, q: torch.Tensor) -> bool:
        if self.kernel == "auto":
            return q.device.type == "cpu" and (q.dtype == torch.float32 or not has_amx())
        return self.kernel == "scores"

    def _attend_by_scores(
        self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, height: int, width: int
    ) -> torch.Tensor:
        """segment-anything's math in chunks of at most SCORE_BLOCK scores: whole heads
        when a head's L x L scores fit, else a few query rows of one head.

        Where the bias terms are narrower than a head (H + W <= C: the 14 x 14 windows),
        they ride along in q.k as extra columns (as in the folded kernel): at most twice
        the q.k work, instead of two broadcast adds over every score with a 14-wide inner
        loop (measured: 0.43 s of a 4.7 s bf16 encoder).
        """
        rel_h, rel_w = rel_pos_terms(q, self.rel_pos_h, self.rel_pos_w, height, width)
        batch, heads, tokens, channels = q.shape
        count = batch * heads
        q = (q * self.scale).reshape(count, tokens, channels)
        k = k.reshape(count, tokens, channels)
        folded = height + width <= channels
        if folded:
            q = torch.cat(
                [q, rel_h.reshape(count, tokens, -1), rel_w.reshape(count, tokens, -1)], -1
            )
            positions = key_positions(height, width, k.dtype, k.device)
            k = torch.cat([k, positions.expand(count, -1, -1)], dim=-1)
        # Contiguous once per block: bmm would otherwise copy a head's keys (and values) at
        # every chunk of its query rows.
        k_t = k.transpose(1, 2).contiguous()
        v = v.reshape(count, tokens, channels).contiguous()
        rel_h = rel_h.reshape(count, tokens, height, 1)
        rel_w = rel_w.reshape(count, tokens, 1, width)
        out = q.new_empty(count, tokens, channels)
        rows = max(1, min(tokens, SCORE_BLOCK // tokens))
        step = max(1, SCORE_BLOCK // (rows * tokens))  # heads per chunk (1 unless rows == L)
        for head in range(0, count, step):
            heads_ = slice(head, head + step)
            for row in range(0, tokens, rows):
                rows_ = slice(row, row + rows)
                if folded:
                    scores = torch.bmm(q[heads_, rows_], k_t[heads_])
                else:
                    bias = torch.add(rel_h[heads_, rows_], rel_w[heads_, rows_])
                    scores = bias.view(*bias.shape[:2], tokens).baddbmm_(
                        q[heads_, rows_], k_t[heads_]
                    )
                torch.bmm(scores.softmax(dim=-1), v[heads_], out=out[heads_, rows_])
        return out.reshape(batch, heads, tokens, channels)


class ContiguousPatchEmbed(PatchEmbed):
    """segment-anything's `PatchEmbed` returning a contiguous B x H x W x C tensor.

    The original returns a permuted view of the convolution's NCHW output; every later
    op preserves that layout, so each layer norm and linear of every block first copies
    the token grid and each residual add runs strided. One copy here avoids all of them.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x).contiguous()


def set_attention_kernel(encoder: torch.nn.Module, kernel: str) -> int:
    """Run the encoder's attention blocks with `kernel`; returns how many blocks it set.

    Every kernel but "reference" also makes the patch embedding return contiguous tokens
    (same values).
    Switching is in place and reversible; weights are untouched. Encoders other than
    segment-anything's ViT (MobileSAM's TinyViT) are left as they are (returns 0).
    """
    if kernel not in ATTENTION_KERNELS:
        raise ValueError(f"unknown attention kernel {kernel!r}; use one of {ATTENTION_KERNELS}")
    if not isinstance(encoder, ImageEncoderViT):
        return 0
    fast = kernel != "reference"
    if isinstance(encoder.patch_embed, PatchEmbed):
        encoder.patch_embed.__class__ = ContiguousPatchEmbed if fast else PatchEmbed
    cls = SdpaAttention if fast else Attention
    count = 0
    for block in encoder.blocks:
        if isinstance(block.attn, Attention):
            block.attn.__class__ = cls
            if fast:
                block.attn.kernel = kernel
            count += 1
    return count
