"""Benchmark `mam matte` (the shipped code) against the reference flow, in one run.

python benchmarks/bench_matte.py --images 2 --prompts 4 --model vit_b --size 1024 [--json]

Rows, timed on the same synthetic PNGs, prompt file and random-weight models:
  reference      plain segment-anything + M2M per prompt (benchmarks/reference_flow.py).
  flow ...       run_matte(MatteConfig(...)) with InferenceOptions that undo the speed
                 changes one by one: flow (segment-anything's attention, plain M2M in
                 batches of 8), flow+sdpa, flow+sdpa+m2m (folded, NHWC M2M), mam-fp32
                 (the defaults: one prompt per M2M call on the CPU), mam-bf16, mam-fp16,
                 mam-int8, mam-compile (not run unless asked for).
  process        `python -m mamcli matte ...` as a whole process, start-up, checkpoint
                 loading and writing included, at --process-precision (default auto).
  process-fp32, process-bf16, process-int8
                 the same whole process at that precision, into a fresh output folder.
  process-rerun  the `process` command on the same output folder with other boxes: the
                 encoder is skipped (embedding cache), only prompts, M2M and writes run.
With --reps N every row runs once per repetition, in turn (load hits them alike); medians.
Weights are random: timings are the real architectures', the alphas mean nothing, their
differences from the reference flow's show what each row changes numerically.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
import warnings
from pathlib import Path

from common import (
    RANDOM_WEIGHTS_NOTE,
    alpha_difference,
    build_models,
    image_size,
    log,
    machine,
    make_images,
    random_boxes,
    save_checkpoints,
    write_boxes,
)
from reference_flow import run_reference
from report import format_report, ratios
from roofline import encoder_flops, matmul_rate
from shipped import (
    VARIANTS,
    matte_config,
    process_command,
    run_shipped,
    time_process,
    variant_config,
)

from mamcli.runtime.memory import reuse_freed_memory

DEFAULT_VARIANTS = ("reference", "mam-fp32", "mam-bf16", "process", "process-rerun")
# Whole-process rows at a set precision (`process` runs at --process-precision).
PROCESS_AT = {f"process-{precision}": precision for precision in ("fp32", "bf16", "int8")}
ROWS = ("reference", *VARIANTS, "process", *PROCESS_AT, "process-rerun")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=2, help="synthetic images (default 2)")
    parser.add_argument("--prompts", type=int, default=1, help="box prompts per image")
    parser.add_argument("--model", choices=("vit_b", "vit_l", "vit_h", "tiny"), default="vit_b")
    parser.add_argument("--size", type=int, default=1024, help="SAM input size (default 1024)")
    parser.add_argument("--image-size", type=image_size, default=(1024, 768), help="WxH")
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1, ... (default cpu)")
    parser.add_argument("--batch-size", type=int, default=1, help="images per encoder call")
    parser.add_argument("--rows", nargs="+", choices=ROWS, default=list(DEFAULT_VARIANTS))
    parser.add_argument("--process-precision", default="auto", help="precision of process rows")
    parser.add_argument("--reps", type=int, default=1, help="repetitions (medians reported)")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    return parser.parse_args(argv)


def one_rep(args, models, images, base, boxes_b: Path, tmp: Path, rep: int) -> dict[str, dict]:
    """Every row once, into fresh output folders; {row: timings}."""
    results = {}
    for row in args.rows:
        out = tmp / f"{row}-{rep}"
        log(f"rep {rep}: {row}")
        if row == "reference":
            results[row] = run_reference(models, images, out)
        elif row in VARIANTS:
            results[row] = run_shipped(variant_config(row, replace_out(base, out)))
        elif row == "process":
            command = process_command(
                replace_out(base, tmp / f"process-{rep}"), args.process_precision
            )
            results[row] = {"wall_s": time_process(command)}
        elif row in PROCESS_AT:
            command = process_command(replace_out(base, tmp / f"{row}-{rep}"), PROCESS_AT[row])
            results[row] = {"wall_s": time_process(command)}
        elif row == "process-rerun":
            first = tmp / f"process-{rep}"
            if not first.exists():  # the rerun needs the first run's embeddings
                time_process(process_command(replace_out(base, first), args.process_precision))
            command = process_command(replace_out(base, first), args.process_precision)
            command[command.index("--boxes") + 1] = str(boxes_b)
            results[row] = {"wall_s": time_process(command)}
    return results


def replace_out(base, out: Path):
    from dataclasses import replace

    return replace(base, out_dir=out)


def median_rows(reps: list[dict[str, dict]]) -> dict[str, dict]:
    """Per row: the median wall seconds and the stage seconds of the median repetition."""
    merged = {}
    for row in reps[0]:
        runs = sorted((rep[row] for rep in reps), key=lambda r: r["wall_s"])
        middle = runs[len(runs) // 2]
        merged[row] = {**middle, "wall_s": statistics.median(r["wall_s"] for r in runs)}
        merged[row]["wall_s_all"] = [rep[row]["wall_s"] for rep in reps]
    return merged


def run_benchmark(args: argparse.Namespace) -> dict[str, object]:
    import numpy as np

    models = build_models(args.model, args.size, args.device)
    log("timing matmul rates")
    rates = {p: matmul_rate(models.device, p) for p in row_precisions(args, models.device)}
    with tempfile.TemporaryDirectory(prefix="mam-bench-") as name:
        tmp = Path(name)
        images = make_images(tmp / "images", args.images, args.prompts, *args.image_size)
        boxes = write_boxes(tmp / "boxes.json", images)
        rng = np.random.default_rng(1)
        others = [
            type(i)(i.path, random_boxes(rng, args.prompts, *args.image_size)) for i in images
        ]
        boxes_b = write_boxes(tmp / "boxes_b.json", others)
        checkpoints = save_checkpoints(models, tmp / "weights")
        base = matte_config(
            tmp / "images",
            tmp / "out",
            boxes,
            checkpoints,
            "fp32",
            str(models.device),
            args.batch_size,
        )
        reps = [one_rep(args, models, images, base, boxes_b, tmp, rep) for rep in range(args.reps)]
        rows = median_rows(reps)
        if "reference" in rows:
            for row in rows:
                if row in VARIANTS:
                    rows[row]["alpha_vs_reference"] = alpha_difference(
                        tmp / "reference-0", tmp / f"{row}-0"
                    )
    flops = encoder_flops(models.config)
    for row, result in rows.items():
        encoded = args.images * (args.prompts if row == "reference" else 1)
        seconds = result.get("stages_s", {}).get("encode" if row != "reference" else "encoder")
        if seconds:
            result["encoder_s_per_image"] = seconds / encoded
            result["encoder_flop_per_s"] = flops * encoded / seconds
            precision = VARIANTS.get(row, ("fp32",))[0]
            if precision in rates:
                result["encoder_fraction_of_matmul"] = (
                    result["encoder_flop_per_s"] / rates[precision]
                )
    return {
        "date": time.strftime("%Y-%m-%d"),
        "note": RANDOM_WEIGHTS_NOTE,
        "machine": machine(str(models.device)),
        "settings": {
            k: getattr(args, k)
            for k in (
                "images",
                "prompts",
                "model",
                "size",
                "image_size",
                "batch_size",
                "reps",
                "process_precision",
            )
        },
        "encoder_gflop": flops / 1e9,
        "matmul_gflop_per_s": {k: v / 1e9 for k, v in rates.items()},
        "rows": rows,
        "ratios": ratios(rows),
    }


def row_precisions(args: argparse.Namespace, device) -> list[str]:
    """The precisions the rows run at (fp32 for the reference): only their matmul rates are
    timed (bf16 without AMX runs at well under 1 GFLOP/s, minutes per matmul)."""
    from mamcli.model.devices import resolve_precision

    wanted = {"fp32"} | {VARIANTS[row][0] for row in args.rows if row in VARIANTS}
    if {"process", "process-rerun"} & set(args.rows):
        wanted.add(resolve_precision(args.process_precision, device))
    wanted |= {PROCESS_AT[row] for row in args.rows if row in PROCESS_AT}
    return sorted(wanted)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    warnings.filterwarnings("ignore", message=".*SAM found no mask.*")  # random weights
    reuse_freed_memory()  # what run_matte sets, set before any row: every row runs with it
    report = run_benchmark(args)
    print(json.dumps(report, indent=2) if args.json else format_report(report))


if __name__ == "__main__":
    main()
