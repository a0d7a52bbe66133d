"""oneDNN kernels with a fused post-op, where this PyTorch has them.

`torch.ops.mkldnn._convolution_pointwise` and `_convolution_transpose_pointwise` are the
kernels PyTorch's own compiler emits for a convolution followed by an activation on the
CPU: the activation is applied while the output is still in cache, instead of in a pass
of its own over memory. They are private ops, so every caller checks `available` and
otherwise runs the same layers unfused.
"""

from __future__ import annotations

from functools import cache

import torch

KERNELS = ("_convolution_pointwise", "_convolution_transpose_pointwise")


@cache
def available() -> bool:
    """Whether this PyTorch has oneDNN and its fused kernels."""
    return torch.backends.mkldnn.is_available() and all(
        hasattr(torch.ops.mkldnn, name) for name in KERNELS
    )


@cache
def supports(dtype: torch.dtype) -> bool:
    """Whether this CPU has instructions for `dtype` (bf16, fp16: AVX-512 or AVX-NE-CONVERT).
    Without them every op emulates the dtype, and the fused kernels raise instead."""
    if dtype == torch.float32:
        return True
    name = {torch.bfloat16: "_is_mkldnn_bf16_supported", torch.float16: "_is_mkldnn_fp16_supported"}
    check = getattr(torch.ops.mkldnn, name.get(dtype, ""), None)  # private ops: may be absent
    return bool(check is not None and check())


def runs_fused(x: torch.Tensor, dtypes: tuple[torch.dtype, ...]) -> bool:
    """Whether `x` can go through a fused kernel: a CPU tensor of one of `dtypes` that this
    CPU supports, outside autograd (the kernels have no backward)."""
    return (
        available()
        and x.device.type == "cpu"
        and x.dtype in dtypes
        and supports(x.dtype)
        and not (torch.is_grad_enabled() and x.requires_grad)
    )
