"""Devices and precisions: which device `auto` means, and which precision runs fast there."""

from __future__ import annotations

import torch

from mamcli.errors import MamError
from mamcli.model import onednn
from mamcli.model.config import PRECISIONS

# Encoder and M2M weights are cast to this dtype (faster than autocast: no casts per op).
# int8 quantizes the encoder's linears and keeps fp32 elsewhere.
LOW_PRECISION_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def resolve_device(device: str = "auto") -> torch.device:
    """`auto` picks CUDA, then Apple's MPS, then the CPU."""
    if device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        resolved = torch.device(device)
    except RuntimeError as exc:
        raise MamError(f"unknown device {device!r}: {exc}") from None
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise MamError(f"device {device!r} asked for, but CUDA is not available here")
    return resolved


def runs_bf16_natively(device: torch.device) -> bool:
    """Whether bf16 matrix work is faster than fp32 on `device`: CUDA GPUs with bf16, and
    CPUs with AMX tiles. (AVX512-BF16 alone is not: measured slower than fp32, see
    docs/performance.md.)"""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        has_amx = getattr(torch.cpu, "_is_amx_tile_supported", None)  # torch >= 2.3
        return bool(has_amx and has_amx())
    return False


def emulated_precision(precision: str, device: torch.device) -> bool:
    """Whether `precision` (bf16, fp16) has no native instructions on this CPU, so every
    op emulates it: on an AVX2-only CPU bf16 linears run at about a sixth of fp32's rate."""
    if precision not in LOW_PRECISION_DTYPES:
        return False
    return device.type == "cpu" and not onednn.supports(LOW_PRECISION_DTYPES[precision])


def resolve_precision(precision: str, device: torch.device) -> str:
    """`auto` is bf16 where the device runs it natively fast, else fp32 (int8 is opt-in)."""
    if precision == "auto":
        return "bf16" if runs_bf16_natively(device) else "fp32"
    if precision not in PRECISIONS:
        raise MamError(f"unknown precision {precision!r}; choose auto, {', '.join(PRECISIONS)}")
    if precision == "int8" and device.type != "cpu":
        raise MamError("precision int8 runs on the CPU only; use bf16 or fp16 on a GPU")
    return precision
