"""Benchmark variants of the classic engine on a folder of images with exact ground truth.

python benchmarks/bench_classic.py FOLDER [FOLDER ...] [--variants old,new] [--json]

A FOLDER holds images (*.png, *.jpg) with ground truth in FOLDER/gt/<name> (8-bit
alpha; for several instances the union 1 - prod(1 - alpha_i)), prompts in
FOLDER/boxes.json ({"name.png": [{"id": ..., "box": [...]}]}) and/or sidecars
FOLDER/<stem>.json ({"instances": [...]}): the layout of samples/ and of the dev set
that benchmarks/devset.py builds. Every variant is a ClassicConfig; "old" reproduces the
engine before issue #14 (fixed trimap band, one closed-form solve), "box" is the box
filled with 1 (no engine). Prints per variant: mean SAD (/1000), MSE (x1e3), Grad
(/1000) over the whole image (Deep Image Matting definitions, mamcli.eval.metrics),
seconds per image, wall and process CPU time (after a warm-up call that compiles
pymatting's numba kernels; its time is printed), and mean SAD relative to "old".
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from dataclasses import asdict, replace
from pathlib import Path

import cv2
import numpy as np

from mamcli.engines.classic import ClassicConfig, ClassicEngine
from mamcli.eval.metrics import matting_errors, to_report_units
from mamcli.results import Instance

OLD = ClassicConfig(working_size=1024, trimap="fixed", solver="cf", iterations=1)
NEW = ClassicConfig()
VARIANTS: dict[str, ClassicConfig | None] = {
    "box": None,
    "old": OLD,
    "old-band0.03": replace(OLD, band=0.03),
    "new-1solve": replace(NEW, iterations=1),
    "new-noblend": replace(NEW, blend_tolerance=0),
    "new-noglass": replace(NEW, glass_density=1.0),
    "new": NEW,
}
"""Name -> configuration; None is the box filled with 1."""


def load_folder(folder: Path) -> list[tuple[str, np.ndarray, np.ndarray, list[Instance]]]:
    """(name, uint8 RGB, uint8 GT alpha, instances) for every prompted image of `folder`."""
    prompts: dict[str, list[dict]] = {}
    if (folder / "boxes.json").is_file():
        prompts.update(json.loads((folder / "boxes.json").read_text()))
    items = []
    for path in sorted(folder.iterdir()):
        if (
            path.suffix.lower() not in (".png", ".jpg", ".jpeg")
            or not (folder / "gt" / path.name).is_file()
        ):
            continue
        sidecar = path.with_suffix(".json")
        entries = prompts.get(path.name)
        if entries is None and sidecar.is_file():
            entries = json.loads(sidecar.read_text())["instances"]
        if not entries:
            continue
        rgb = cv2.cvtColor(cv2.imread(str(path), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
        gt = cv2.imread(str(folder / "gt" / path.name), cv2.IMREAD_GRAYSCALE)
        instances = [Instance(id=str(e.get("id")), box=tuple(e["box"])) for e in entries]
        items.append((path.name, rgb, gt, instances))
    return items


def union(alphas: list[np.ndarray]) -> np.ndarray:
    keep = np.ones_like(alphas[0], dtype=np.float64)
    for a in alphas:
        keep *= 1 - a
    return np.clip(np.round((1 - keep) * 255), 0, 255).astype(np.uint8)


def box_alpha(shape: tuple[int, int], instances: list[Instance]) -> list[np.ndarray]:
    out = []
    for inst in instances:
        a = np.zeros(shape, np.float32)
        x0, y0, x1, y1 = (int(v) for v in inst.box)
        a[y0 : y1 + 1, x0 : x1 + 1] = 1
        out.append(a)
    return out


def run_variant(config: ClassicConfig | None, items: list) -> dict[str, object]:
    """Mean metrics (report units) and seconds per image of one variant over `items`."""
    rows, seconds, cpu, per_image = [], 0.0, 0.0, {}
    for name, rgb, gt, instances in items:
        start, cpu_start = time.perf_counter(), time.process_time()
        if config is None:
            alphas = box_alpha(gt.shape, instances)
        else:
            alphas = [m.alpha for m in ClassicEngine(config).predict(rgb, instances)]
        seconds += time.perf_counter() - start
        cpu += time.process_time() - cpu_start
        errors = to_report_units(matting_errors(union(alphas), gt, {"all": None})["all"])
        rows.append(errors)
        per_image[name] = round(errors["sad"], 2)
    mean = {k: float(np.mean([r[k] for r in rows])) for k in ("sad", "mse", "grad")}
    n = len(items)
    return {**mean, "s_per_image": seconds / n, "cpu_per_image": cpu / n, "per_image": per_image}


def warm_up() -> float:
    """Seconds of the first (numba-compiling) call, on a small synthetic image."""
    y, x = np.mgrid[0:120, 0:160]
    alpha = np.clip((40 - np.hypot(x - 80, y - 60)) / 4, 0, 1)[..., None]
    rgb = (alpha * [230, 200, 50] + (1 - alpha) * [30, 90, 140]).astype(np.uint8)
    start = time.perf_counter()
    for config in VARIANTS.values():
        if config is not None:
            ClassicEngine(config).predict(rgb, [Instance(box=(35, 15, 125, 105))])
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", type=Path, nargs="+")
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--per-image", action="store_true", help="print SAD per image")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    names = args.variants.split(",")
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cpus")
    print(f"warm-up (numba JIT, all variants): {warm_up():.1f} s")
    report = {}
    for folder in args.folders:
        items = load_folder(folder)
        results = {n: run_variant(VARIANTS[n], items) for n in names}
        report[str(folder)] = results
        if args.json:
            continue
        print(f"\n{folder} ({len(items)} images)")
        head = ("SAD", "MSE", "Grad", "s/img", "cpu", "vs old")
        print(f"{'variant':14}" + "".join(f" {h:>7}" for h in head))
        base = results.get("old", {}).get("sad")
        for n, r in results.items():
            ratio = f"{r['sad'] / base:7.2f}" if base else "      -"
            print(f"{n:14} {r['sad']:7.2f} {r['mse']:7.2f} {r['grad']:7.2f} "
                  f"{r['s_per_image']:6.2f} {r['cpu_per_image']:6.2f} {ratio}")  # fmt: skip
        if args.per_image:
            for n, r in results.items():
                print(n, r["per_image"])
    if args.json:
        configs = {n: asdict(c) if c else None for n, c in VARIANTS.items() if n in names}
        print(json.dumps({"configs": configs, "results": report}, indent=1))


if __name__ == "__main__":
    main()
