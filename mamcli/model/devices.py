"""Devices and precisions: which device `auto` means, and which precision runs fast there."""

from __future__ import annotations

import platform
from functools import cache

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
    the CPUs `bf16_beats_fp32_on_cpu` names."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        return bf16_beats_fp32_on_cpu(
            has_amx(), _cpu_check("_is_avx512_bf16_supported"), cpu_vendor()
        )
    return False


def bf16_beats_fp32_on_cpu(amx: bool, avx512_bf16: bool, vendor: str) -> bool:
    """AMX tiles (Intel, 3x fp32's matmul rate measured), or AVX512-BF16 on AMD (Zen 4:
    2.5x measured). Intel's AVX512-BF16 without AMX was measured slower than fp32
    (docs/performance.md), so it does not count."""
    return amx or (avx512_bf16 and vendor == "AuthenticAMD")


@cache
def has_amx() -> bool:
    """Whether this CPU has AMX tiles (and the OS lets programs use them)."""
    return _cpu_check("_is_amx_tile_supported")


def _cpu_check(name: str) -> bool:
    check = getattr(torch.cpu, name, None)  # private, torch >= 2.3
    return bool(check and check())


@cache
def cpu_vendor() -> str:
    """The CPU's vendor string ("GenuineIntel", "AuthenticAMD"), or "" where the OS does
    not say."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as info:
            for line in info:
                if line.startswith("vendor_id"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    described = platform.processor()  # Windows: "... Family 25 Model 17 ..., AuthenticAMD"
    return next((v for v in ("GenuineIntel", "AuthenticAMD") if v in described), "")


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
