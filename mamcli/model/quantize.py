"""int8 inference for CPUs without fast bf16: dynamic quantization of the Linear layers.

Weights are stored as int8 with one scale per weight tensor (PyTorch's default dynamic
qconfig); activations are quantized per call from their observed range, so no calibration
data is needed. Only `nn.Linear` layers are converted: they carry 72 % of the ViT
encoder's FLOPs, and PyTorch's dynamic quantization has no convolution kernels (M2M is all
convolutions and stays in fp32).
"""

from __future__ import annotations

import warnings

import torch
from torch import nn


def quantize_linears(module: nn.Module) -> nn.Module:
    """An int8 copy of `module` with every nn.Linear dynamically quantized; `module` is kept."""
    with warnings.catch_warnings():  # torch.ao.quantization announces its move to torchao
        warnings.filterwarnings("ignore", message=".*deprecated.*")
        return torch.ao.quantization.quantize_dynamic(
            module, {nn.Linear}, dtype=torch.qint8, inplace=False
        )


def count_quantized(module: nn.Module) -> int:
    """How many dynamically quantized Linear layers `module` holds."""
    quantized = torch.ao.nn.quantized.dynamic.Linear
    return sum(isinstance(m, quantized) for m in module.modules())
