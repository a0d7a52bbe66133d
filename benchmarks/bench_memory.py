"""Peak resident memory of `run_matte` for N images, each count in a fresh process: a
streaming run's peak does not grow with the number of images.

python benchmarks/bench_memory.py --counts 10,100 [--model tiny] [--size 256] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from common import (
    build_models,
    image_size,
    log,
    make_images,
    save_checkpoints,
    write_boxes,
)
from shipped import matte_config, run_shipped

from mamcli.runtime.memory import peak_rss_mib


def one_count(args: argparse.Namespace) -> dict[str, object]:
    """Build the models, write `--images` PNGs, run run_matte once; this process's peak."""
    models = build_models(args.model, args.size, "cpu")
    with tempfile.TemporaryDirectory(prefix="mam-memory-") as name:
        tmp = Path(name)
        images = make_images(tmp / "images", args.images, args.prompts, *args.image_size)
        boxes = write_boxes(tmp / "boxes.json", images)
        checkpoints = save_checkpoints(models, tmp / "weights")
        del models
        config = matte_config(tmp / "images", tmp / "out", boxes, checkpoints, "fp32", "cpu")
        result = run_shipped(config)
    return {"images": args.images, "peak_rss_mib": peak_rss_mib(), "wall_s": result["wall_s"]}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--counts", type=lambda s: [int(v) for v in s.split(",") if v], default=[10, 100]
    )
    parser.add_argument("--images", type=int, help=argparse.SUPPRESS)  # one count, in-process
    parser.add_argument("--prompts", type=int, default=1)
    parser.add_argument("--model", choices=("vit_b", "tiny"), default="tiny")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--image-size", type=image_size, default=(320, 240), help="WxH")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if args.images is not None:
        print(json.dumps(one_count(args)))
        return
    runs = []
    for count in args.counts:
        command = [sys.executable, __file__, "--images", str(count), "--prompts", str(args.prompts)]
        command += ["--model", args.model, "--size", str(args.size)]
        command += ["--image-size", "x".join(map(str, args.image_size))]
        log(" ".join(command[1:]))
        done = subprocess.run(command, capture_output=True, text=True, env=os.environ, check=False)
        if done.returncode != 0:
            raise SystemExit(f"memory run failed:\n{done.stderr[-2000:]}")
        runs.append(json.loads(done.stdout.splitlines()[-1]))
    if args.json:
        print(json.dumps({"model": args.model, "size": args.size, "runs": runs}))
    else:
        for run in runs:
            print(
                f"{run['images']:>5} images: peak RSS {run['peak_rss_mib']:.0f} MiB "
                f"({run['wall_s']:.1f} s)"
            )


if __name__ == "__main__":
    main()
