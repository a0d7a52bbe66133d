"""The M2M training loss: weighted L1 plus a weighted Laplacian-pyramid loss on each scale.

L = sum_s c_s (L1_w(alpha_s, gt) + Lap_w(alpha_s, gt)) with c_os1 = 2/5, c_os4 = c_os8 = 1/5
(the paper's recipe). The pyramid is linear, so it is built once on the difference pred - gt.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

SCALE_WEIGHTS = {"os1": 0.4, "os4": 0.2, "os8": 0.2}
PYRAMID_LEVELS = 5
EPS = 1e-8


def _binomial_kernel(device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    row = torch.tensor([1.0, 4.0, 6.0, 4.0, 1.0], device=device, dtype=dtype)
    return (torch.outer(row, row) / 256.0).view(1, 1, 5, 5)


def _blur(x: torch.Tensor) -> torch.Tensor:
    """5x5 binomial Gaussian with reflect padding 2, per channel (x: B x 1 x H x W)."""
    return F.conv2d(F.pad(x, (2, 2, 2, 2), mode="reflect"), _binomial_kernel(x.device, x.dtype))


def _upsample(x: torch.Tensor, size: torch.Size) -> torch.Tensor:
    """Zero insertion to twice the size, then the Gaussian x 4, cropped to `size`."""
    b, c, h, w = x.shape
    up = x.new_zeros(b, c, 2 * h, 2 * w)
    up[..., ::2, ::2] = x
    return _blur(up)[..., : size[-2], : size[-1]] * 4.0


def laplacian_pyramid(x: torch.Tensor, levels: int = PYRAMID_LEVELS) -> list[torch.Tensor]:
    """Band-pass levels 0..levels-1 of x (B x 1 x H x W); the final low-pass is not kept.

    Each side must stay >= 3 at the last level (reflect padding 2), e.g. >= 48 for 5 levels.
    """
    bands = []
    current = x
    for _ in range(levels):
        down = _blur(current)[..., ::2, ::2]
        bands.append(current - _upsample(down, current.shape))
        current = down
    return bands


def weighted_l1(diff: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """sum(|diff| * w) / (sum(w) + 1e-8)."""
    return (diff.abs() * weight).sum() / (weight.sum() + EPS)


def laplacian_l1(diff: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """sum_i 2^i L1_w on pyramid level i; the weight map is subsampled by every second pixel."""
    total = diff.new_zeros(())
    for i, band in enumerate(laplacian_pyramid(diff)):
        step = 2**i
        total = total + step * weighted_l1(band, weight[..., ::step, ::step])
    return total


@dataclass
class LossTerms:
    """The total loss and its per-scale parts (each already multiplied by c_s)."""

    total: torch.Tensor
    parts: dict[str, torch.Tensor]


def matting_loss(
    alphas: dict[str, torch.Tensor], gt: torch.Tensor, weights: dict[str, torch.Tensor]
) -> LossTerms:
    """Multi-scale loss; `alphas` and `weights` are keyed "os1", "os4", "os8" (B x 1 x H x W)."""
    parts = {}
    for scale, coefficient in SCALE_WEIGHTS.items():
        diff = alphas[scale].float() - gt
        weight = weights[scale].float()
        parts[scale] = coefficient * (weighted_l1(diff, weight) + laplacian_l1(diff, weight))
    return LossTerms(total=sum(parts.values()), parts=parts)
