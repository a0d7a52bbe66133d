"""The SAM encoder and M2M at each precision against the roofline, variants interleaved.

python benchmarks/bench_precision.py [--model vit_b|tiny] [--size 1024] [--reps 3] [--onnx]

Rows: `reference` (segment-anything's attention, fp32, plain M2M), `mam-fp32`, `mam-bf16`,
`mam-int8` (the shipped MattingAnything code at each precision), `mam-bf16-unfused` (bf16
without M2M's oneDNN fused kernels: fuse_m2m off), `mam-fp32-fold`, `mam-bf16-fold` (the
folded attention kernel, whatever `auto` picks), `mam-bf16-scores` (attention by score
blocks) and, with --onnx, ONNX
Runtime on the same random encoder exported by torch.onnx (fp32, and int8 through
onnxruntime.quantization.quantize_dynamic; `pip install 'mam[bench]'`). One repetition
runs every row once, in turn, so machine load hits them alike; medians are reported with
each encoder's fraction of the measured matmul rate of its precision. With
--object-sides 0.5,0.25 M2M is also timed on the window refinement reads for a square
object of that fraction of the image side (mamcli/model/window.py; what `mam matte` runs).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

from common import build_models
from roofline import encoder_flops, matmul_rate

from mamcli.runtime.memory import reuse_freed_memory

ROWS = (
    "reference",
    "mam-fp32",
    "mam-fp32-fold",
    "mam-bf16-unfused",
    "mam-bf16",
    "mam-bf16-fold",
    "mam-bf16-scores",
    "mam-int8",
)
# Row-name suffix -> the inference options it changes.
SUFFIX_OPTIONS = {
    "unfused": {"fuse_m2m": False},  # M2M's oneDNN fused kernels undone
    "fold": {"attention": "fold"},  # the folded fused-SDPA attention kernel, whatever auto picks
    "scores": {"attention": "scores"},  # attention by score blocks, whatever auto picks
}


def object_windows(size: int, sides: tuple[float, ...]) -> dict[float, object]:
    """side -> the M2M window of a centred square object `side` x the image side."""
    import torch

    from mamcli.model.config import RefineConfig
    from mamcli.model.window import m2m_window

    windows = {}
    for side in sides:
        mask = torch.zeros(1, size, size, dtype=torch.bool)
        lo, hi = int(size * (1 - side) / 2), int(size * (1 + side) / 2)
        mask[:, lo:hi, lo:hi] = True
        windows[side] = m2m_window(mask, (size, size), size, RefineConfig())
    return windows


def torch_rows(
    models, rows: tuple[str, ...], sides: tuple[float, ...] = ()
) -> dict[str, tuple[str, Callable, Callable]]:
    """name -> (precision, encode(), m2m on one prompt(side)) for the MattingAnything rows
    (side None: the whole padded image, as the reference runs it)."""
    import torch

    from mamcli.model.api import REFERENCE_OPTIONS, InferenceOptions
    from mamcli.model.window import run_in_window

    size = models.config.img_size
    x = torch.randn(1, 3, size, size)
    guide = (torch.rand(1, 1, size // 4, size // 4) > 0.5).float()
    windows = object_windows(size, sides)
    out = {}
    for name in rows:
        precision = "fp32" if name == "reference" else name.split("-")[1]
        options = (
            REFERENCE_OPTIONS
            if name == "reference"
            else InferenceOptions(**SUFFIX_OPTIONS.get(name.split("-")[-1], {}))
        )
        mam = models.matting(precision, options)
        embedding = mam.sam.encode(x)

        def m2m(side=None, mam=mam, embedding=embedding):
            if side is None:
                mam.run_m2m(embedding, x, guide)
            else:
                run_in_window(mam.run_m2m, windows[side], embedding, x, guide)

        out[name] = (precision, lambda mam=mam: mam.sam.encode(x), m2m)
    return out


def onnx_rows(models, folder: Path) -> dict[str, tuple[str, Callable, None]]:
    """ONNX Runtime sessions of the same encoder: fp32 and dynamically quantized int8."""
    import copy

    import numpy as np
    import onnxruntime as ort
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic

    size = models.config.img_size
    fp32 = folder / "encoder.onnx"
    encoder = copy.deepcopy(models.sam.image_encoder).eval()
    torch.onnx.export(encoder, (torch.randn(1, 3, size, size),), fp32, dynamo=False)
    int8 = folder / "encoder.int8.onnx"
    quantize_dynamic(fp32, int8, weight_type=QuantType.QInt8)
    x = np.random.default_rng(0).standard_normal((1, 3, size, size), dtype=np.float32)
    rows = {}
    for name, path, precision in (("onnx-fp32", fp32, "fp32"), ("onnx-int8", int8, "int8")):
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        feed = {session.get_inputs()[0].name: x}
        rows[name] = (precision, lambda s=session, f=feed: s.run(None, f), None)
    return rows


def stopwatch(fn: Callable) -> Callable[[], float]:
    def timed() -> float:
        start = time.perf_counter()
        fn()
        return time.perf_counter() - start

    return timed


def run(args: argparse.Namespace) -> dict:
    import torch

    models = build_models(args.model, args.size, "cpu")
    with tempfile.TemporaryDirectory(prefix="mam-bench-") as tmp:
        sides = tuple(args.object_sides)
        rows = torch_rows(models, tuple(args.rows), sides)
        if args.onnx:
            rows.update(onnx_rows(models, Path(tmp)))
        encode_s = {name: [] for name in rows}
        m2m_s = {name: [] for name, (_, _, m2m) in rows.items() if m2m}
        window_s = {(name, side): [] for name in m2m_s for side in sides}
        with torch.inference_mode():
            for _, encode, m2m in rows.values():  # warm-up: first-call allocations
                encode()
                if m2m:
                    m2m()
                    for side in sides:
                        m2m(side)
            for _ in range(args.reps):
                for name, (_, encode, m2m) in rows.items():
                    encode_s[name].append(stopwatch(encode)())
                    if m2m:
                        m2m_s[name].append(stopwatch(m2m)())
                        for side in sides:
                            window_s[name, side].append(stopwatch(partial(m2m, side))())
    precisions = sorted({precision for precision, _, _ in rows.values()})
    rates = {p: matmul_rate(torch.device("cpu"), p) for p in precisions}
    flops = encoder_flops(models.config)
    report = {"model": args.model, "size": args.size, "reps": args.reps, "rows": {}}
    report["matmul_gflop_per_s"] = {p: r / 1e9 for p, r in rates.items()}
    reference = statistics.median(encode_s["reference"]) if "reference" in encode_s else None
    for name, (precision, _, _) in rows.items():
        seconds = statistics.median(encode_s[name])
        report["rows"][name] = {
            "precision": precision,
            "encoder_s": seconds,
            "encoder_fraction_of_matmul": flops / seconds / rates[precision],
            "encoder_speedup_vs_reference": reference / seconds if reference else None,
            "m2m_s_per_prompt": statistics.median(m2m_s[name]) if name in m2m_s else None,
            "m2m_window_s": {
                str(side): statistics.median(times)
                for (row, side), times in window_s.items()
                if row == name
            },
        }
    return report


def format_report(report: dict) -> str:
    rates = ", ".join(f"{p} {r:.0f}" for p, r in report["matmul_gflop_per_s"].items())
    lines = [
        f"{report['model']} at {report['size']} px, median of {report['reps']} interleaved reps;"
        f" 2048^3 matmul GFLOP/s: {rates}",
        f"{'row':<18}{'prec':>6}{'encoder s':>11}{'of roofline':>13}{'vs reference':>14}"
        f"{'M2M s/prompt':>14}",
    ]
    sides = next((list(row["m2m_window_s"]) for row in report["rows"].values()), [])
    lines[-1] += "".join(f"{'side ' + side:>12}" for side in sides)
    for name, row in report["rows"].items():
        m2m = row["m2m_s_per_prompt"]
        lines.append(
            f"{name:<18}{row['precision']:>6}{row['encoder_s']:>11.3f}"
            f"{row['encoder_fraction_of_matmul']:>13.0%}"
            + (
                f"{speedup:>13.2f}x"
                if (speedup := row["encoder_speedup_vs_reference"])
                else f"{'-':>14}"
            )
            + (f"{m2m:>14.3f}" if m2m is not None else f"{'-':>14}")
            + "".join(f"{row['m2m_window_s'].get(side, 0):>12.3f}" for side in sides)
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=("vit_b", "tiny"), default="vit_b")
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--rows", nargs="+", choices=ROWS, default=list(ROWS))
    parser.add_argument("--onnx", action="store_true", help="add ONNX Runtime rows")
    parser.add_argument(
        "--object-sides",
        type=lambda text: [float(v) for v in text.split(",") if v],
        default=[],
        help="also time M2M on the window of a centred object of these sides, e.g. 0.5,0.25",
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    reuse_freed_memory()  # as `mam matte` runs
    report = run(args)
    print(json.dumps(report, indent=2) if args.json else format_report(report))


if __name__ == "__main__":
    sys.exit(main())
