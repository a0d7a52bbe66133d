"""oneDNN kernels with a fused post-op, where this PyTorch has them.

`torch.ops.mkldnn._convolution_pointwise`, `_convolution_transpose_pointwise` and
`_linear_pointwise` are the kernels PyTorch's own compiler emits for a convolution or a
linear layer followed by an activation on the CPU: the activation is applied while the
output is still in cache, instead of in a pass of its own over memory, and a linear's bias
is added in the kernel instead of being copied into the output first. They are private
ops, so every caller checks `available` and otherwise runs the same layers unfused.
"""

from __future__ import annotations

from functools import cache

import torch
from torch import nn

KERNELS = ("_convolution_pointwise", "_convolution_transpose_pointwise", "_linear_pointwise")


@cache
def available() -> bool:
    """Whether this PyTorch has oneDNN and its fused kernels."""
    return torch.backends.mkldnn.is_available() and all(
        hasattr(torch.ops.mkldnn, name) for name in KERNELS
    )


def runs_fused(x: torch.Tensor, dtypes: tuple[torch.dtype, ...]) -> bool:
    """Whether `x` can go through a fused kernel: a CPU tensor of one of `dtypes`, outside
    autograd (the kernels have no backward)."""
    return (
        available()
        and x.device.type == "cpu"
        and x.dtype in dtypes
        and not (torch.is_grad_enabled() and x.requires_grad)
    )


def linear(layer: nn.Module, x: torch.Tensor, activation: str = "none") -> torch.Tensor:
    """layer(x) (then GELU with activation="gelu") as one oneDNN call for bf16 on the CPU,
    where it pays (measured: fp32 gains nothing); as the unfused ops otherwise."""
    if isinstance(layer, nn.Linear) and runs_fused(x, (torch.bfloat16,)):
        algorithm = "none" if activation == "gelu" else ""  # "none": GELU with erf
        return torch.ops.mkldnn._linear_pointwise(
            x, layer.weight, layer.bias, activation, [], algorithm
        )
    out = layer(x)
    return nn.functional.gelu(out) if activation == "gelu" else out
