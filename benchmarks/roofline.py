"""The machine's matmul rate per precision and the SAM encoder's FLOPs: what "fast" means.

An encoder's fraction of the roofline is its FLOPs per second over the measured rate of a
2048^3 matmul at the same precision on the same machine, in the same run.
"""

from __future__ import annotations

import statistics
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

    from mamcli.model.sam import SamConfig


def encoder_flops(config: SamConfig) -> float:
    """Multiply-add FLOPs (2 per MAC) of one SAM ViT encoder forward, counted analytically.

    Windowed blocks pad the token grid to a multiple of the window and run qkv, attention
    and proj on the padded grid; global blocks attend over the whole grid. Layer norms,
    softmax and GELU are not counted (they are < 1 % here).
    """
    grid, dim, chans = config.img_size // config.patch_size, config.encoder_dim, config.prompt_dim
    tokens = grid * grid
    flops = 2 * tokens * dim * 3 * config.patch_size**2  # patch embedding
    for block in range(config.encoder_depth):
        if block in config.global_attn_indexes or config.window_size == 0:
            side, windows = grid, 1
        else:
            side = config.window_size
            windows = (-(-grid // side)) ** 2
        attn_tokens = windows * side * side
        flops += 2 * attn_tokens * dim * 4 * dim  # qkv (3 D) and proj (D)
        flops += 2 * 2 * windows * (side * side) ** 2 * dim  # q k^T and attn v, all heads
        flops += 2 * 2 * attn_tokens * side * dim  # decomposed relative positions (h and w)
        flops += 2 * tokens * dim * 8 * dim  # MLP, ratio 4, two matmuls
    flops += 2 * tokens * dim * chans + 2 * tokens * chans * chans * 9  # neck 1x1 and 3x3
    return float(flops)


def matmul_rate(device: torch.device, precision: str, n: int = 2048, reps: int = 5) -> float:
    """This machine's achieved FLOP/s on an n x n x n matmul (median of `reps`, after warm-up).

    int8 is timed as torch's dynamically quantized linear (int8 weights, per-call
    activation quantization), the kernel the int8 precision runs. A precision this device
    only emulates (bf16 on a CPU without AVX-512: well under 1 GFLOP/s) is timed on a
    smaller matmul, sized from a 256^3 probe so one repetition takes about a second.
    """
    probe = _matmul_seconds(device, precision, 256, 1)
    if probe * (n / 256) ** 3 > 2.0:
        n = max(256, int(256 * (1.0 / probe) ** (1 / 3)) // 256 * 256)
    return 2 * n**3 / _matmul_seconds(device, precision, n, reps)


def _matmul_seconds(device: torch.device, precision: str, n: int, reps: int) -> float:
    import torch

    from mamcli.model.quantize import quantize_linears

    a = torch.randn(n, n, device=device)
    if precision == "int8":
        linear = quantize_linears(torch.nn.Sequential(torch.nn.Linear(n, n, bias=False)))
        run = lambda: linear(a)  # noqa: E731
    else:
        dtype = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[precision]
        a, b = a.to(dtype), torch.randn(n, n, device=device).to(dtype)
        run = lambda: torch.matmul(a, b)  # noqa: E731
    times = []
    with torch.inference_mode():
        for rep in range(reps + 1):
            start = time.perf_counter()
            run()
            if device.type == "cuda":
                torch.cuda.synchronize()
            if rep:
                times.append(time.perf_counter() - start)
    return statistics.median(times)
