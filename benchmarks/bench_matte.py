"""Benchmark the MAM image path: the naive per-prompt flow against the project's path.

python benchmarks/bench_matte.py --images 3 --prompts 4 --model vit_b --size 1024 [--json]

Variants, timed in one run on the same synthetic PNGs and the same random-weight models.
Each `flow...` variant adds one change to the one before it, so the table shows what each
change is worth:
  naive          what the reference flow does: for every prompt re-read and decode the
                 image, resize, encode it, decode one prompt, run M2M on one prompt (fp32),
                 refine with CPU round trips (cv2) and write the PNG synchronously.
  flow           MattingAnything with segment-anything's own attention and the plain M2M:
                 a loader thread decodes and resizes ahead, the encoder runs once per image,
                 matte() decodes all prompts of the image in one batch (M2M in batches of
                 8), a writer thread writes while the next image is computed.
  flow+sdpa      + the encoder's attention through scaled_dot_product_attention.
  flow+sdpa+m2m  + M2M with spectral/batch norms folded into its convs, channels_last.
  mam-fp32       + M2M one prompt per call on the CPU: the default settings, fp32.
  mam-bf16, mam-fp16   the default settings under bf16 / fp16 autocast.
  mam-compile    the default settings with torch.compile (not run unless asked for: its
                 first call compiles for minutes on a CPU; reported as warm-up time).

Weights are random (default init; M2M's spectral-norm vectors power-iterated as in a trained
checkpoint): the timings are those of the real architectures, the alphas are not meaningful,
but their differences from the naive flow's alphas show what each variant changes numerically.
`--peak-only` runs one variant and prints its peak resident memory; the main run uses it in
subprocesses to compare 10 against 100 images (streaming check).
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from roofline import encoder_flops, matmul_rate

if TYPE_CHECKING:
    import torch

    from mamcli.model.api import InferenceOptions, MattingAnything
    from mamcli.model.m2m import M2M
    from mamcli.model.sam import SamConfig, SamStage

STAGES = ("decode", "resize", "encoder", "prompt", "m2m", "refine", "write")
OVERLAPPED = ("decode", "resize", "write")  # run in background threads in the mam-* variants
VARIANTS = (
    "naive",
    "flow",
    "flow+sdpa",
    "flow+sdpa+m2m",
    "mam-fp32",
    "mam-bf16",
    "mam-fp16",
    "mam-compile",
)
DEFAULT_VARIANTS = VARIANTS[:-1]
DTYPES = ("fp32", "bf16", "fp16")


def variant_settings(name: str) -> tuple[str, InferenceOptions]:
    """(precision, inference options) of a MattingAnything variant."""
    from mamcli.model.api import REFERENCE_OPTIONS, InferenceOptions

    return {
        "flow": ("fp32", replace(REFERENCE_OPTIONS, m2m_batch=8)),
        "flow+sdpa": ("fp32", InferenceOptions(fold_m2m=False, channels_last=False, m2m_batch=8)),
        "flow+sdpa+m2m": ("fp32", InferenceOptions(m2m_batch=8)),
        "mam-fp32": ("fp32", InferenceOptions()),
        "mam-bf16": ("bf16", InferenceOptions()),
        "mam-fp16": ("fp16", InferenceOptions()),
        "mam-compile": ("fp32", InferenceOptions(compile=True)),
    }[name]


def variant_precision(name: str) -> str:
    return "fp32" if name == "naive" else variant_settings(name)[0]


RANDOM_WEIGHTS_NOTE = "random weights: timings are real, alphas are not (their differences are)"


# ----------------------------------------------------------------------------- timing


class StageTimer:
    """Seconds and call counts per stage; safe to use from the loader and writer threads."""

    def __init__(self, sync: Callable[[], None]) -> None:
        self.seconds = dict.fromkeys(STAGES, 0.0)
        self.calls = dict.fromkeys(STAGES, 0)
        self._sync = sync
        self._lock = threading.Lock()

    def add(self, stage: str, seconds: float) -> None:
        with self._lock:
            self.seconds[stage] += seconds
            self.calls[stage] += 1

    @contextlib.contextmanager
    def __call__(self, stage: str) -> Iterator[None]:
        start = time.perf_counter()
        yield
        self._sync()
        self.add(stage, time.perf_counter() - start)

    def wrap(self, stage: str, fn: Callable) -> Callable:
        def timed(*args, **kwargs):
            with self(stage):
                return fn(*args, **kwargs)

        return timed


@contextlib.contextmanager
def timed_module(module: torch.nn.Module, timer: StageTimer, stage: str) -> Iterator[None]:
    """Time every forward of `module` (hooks, removed on exit) without changing the model."""
    starts: list[float] = []

    def before(*_):
        starts.append(time.perf_counter())

    def after(*_):
        timer._sync()
        timer.add(stage, time.perf_counter() - starts.pop())

    handles = [module.register_forward_pre_hook(before), module.register_forward_hook(after)]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


# ----------------------------------------------------------------------------- inputs


@dataclass
class SyntheticImage:
    path: Path
    boxes: list[tuple[float, float, float, float]] = field(default_factory=list)


def make_images(
    folder: Path, count: int, prompts: int, width: int, height: int, seed: int = 0
) -> list[SyntheticImage]:
    """Write `count` PNGs (uint8 noise plus filled discs) and draw `prompts` boxes for each."""
    import cv2

    from mamcli.imaging.write import write_image

    rng = np.random.default_rng(seed)
    images = []
    for index in range(count):
        rgb = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
        for _ in range(6):
            centre = (int(rng.integers(0, width)), int(rng.integers(0, height)))
            colour = tuple(int(c) for c in rng.integers(0, 256, 3))
            cv2.circle(rgb, centre, int(rng.integers(height // 12, height // 3)), colour, -1)
        path = folder / f"image_{index:04d}.png"
        write_image(path, rgb)
        boxes = []
        for _ in range(prompts):
            x0, y0 = rng.uniform(0, width / 2), rng.uniform(0, height / 2)
            size = rng.uniform(0.25, 0.5)
            boxes.append((x0, y0, x0 + size * width, y0 + size * height))
        images.append(SyntheticImage(path, boxes))
    return images


# ----------------------------------------------------------------------------- models


def sam_config(model: str, size: int) -> SamConfig:
    """vit_b: the official ViT-B shape at `size` px; tiny: a 2-block ViT for quick checks."""
    from dataclasses import replace

    from mamcli.model.sam import OFFICIAL_CONFIGS, SamConfig

    if model == "tiny":
        return SamConfig(
            img_size=size,
            encoder_dim=96,
            encoder_depth=2,
            encoder_heads=2,
            window_size=8,
            global_attn_indexes=(1,),
        )
    return replace(OFFICIAL_CONFIGS[model], img_size=size)


def precision_unusable_reason(device: torch.device, precision: str) -> str | None:
    """None if `precision` runs on `device`, else why its variants are skipped."""
    import torch

    if device.type == "cuda" and precision == "bf16" and not torch.cuda.is_bf16_supported():
        return "this GPU has no bf16 support"
    return None


# ----------------------------------------------------------------------------- variants


def run_naive(
    images: list[SyntheticImage], stage: SamStage, m2m: M2M, out: Path, timer: StageTimer
) -> None:
    """The reference flow: everything once per prompt, fp32, CPU refinement, sync writes."""
    import torch
    import torch.nn.functional as F

    from mamcli.imaging.read import load_rgb
    from mamcli.imaging.write import alpha_to_uint, write_image
    from mamcli.model.attention import set_attention_kernel
    from mamcli.model.config import RefineConfig
    from mamcli.model.refine import refine

    set_attention_kernel(stage.sam.image_encoder, "reference")
    config = RefineConfig()
    with torch.inference_mode():
        for image in images:
            for k, box in enumerate(image.boxes):
                with timer("decode"):
                    rgb = load_rgb(image.path).rgb
                with timer("resize"):
                    prepared = stage.prepare(rgb)
                with timer("encoder"):
                    model_input = stage.model_input([prepared])
                    embedding = stage.encode(model_input)
                with timer("prompt"):
                    boxes = stage.transform_boxes(np.array([box], float), prepared.original_size)
                    decoded = stage.decode(embedding, boxes=boxes)
                    guide = (decoded.low_res_logits > 0).float()
                    post_mask = stage.upscale_masks(decoded.low_res_logits, prepared)[:, 0] > 0
                with timer("m2m"):
                    output = m2m(embedding, model_input, guide)
                with timer("refine"):
                    h, w = prepared.input_size
                    scales = [
                        torch.from_numpy(
                            F.interpolate(
                                alpha[..., :h, :w],
                                prepared.original_size,
                                mode="bilinear",
                                align_corners=False,
                            )[:, 0]
                            .cpu()
                            .numpy()
                        )
                        for alpha in (output.alpha_os1, output.alpha_os4, output.alpha_os8)
                    ]
                    mask = torch.from_numpy(post_mask.cpu().numpy())
                    alpha = refine(*scales, mask, config, backend="cv2").clamp(0, 1).numpy()[0]
                with timer("write"):
                    write_image(out / f"{image.path.stem}_{k}.png", alpha_to_uint(alpha))


def _prefetched(pool: ThreadPoolExecutor, fn: Callable, items: Iterable, depth: int) -> Iterator:
    """fn(item) for each item, computed up to `depth` items ahead in `pool`, in order."""
    pending: deque = deque()
    for item in items:
        pending.append(pool.submit(fn, item))
        if len(pending) > depth:
            yield pending.popleft().result()
    while pending:
        yield pending.popleft().result()


def run_mam(
    images: list[SyntheticImage],
    mam: MattingAnything,
    out: Path,
    timer: StageTimer,
    batch_size: int = 1,
) -> None:
    """The project's path: prefetching loader, one encoder call per `batch_size` images,
    all prompts of an image batched in `mam.matte`, background writes."""
    from mamcli.imaging.read import load_rgb
    from mamcli.imaging.write import alpha_to_uint, write_image
    from mamcli.results import Instance

    def load(image: SyntheticImage):
        with timer("decode"):
            rgb = load_rgb(image.path).rgb
        with timer("resize"):
            return image, mam.sam.prepare(rgb)

    def write(stem: str, alphas: list[np.ndarray]) -> None:
        with timer("write"):
            for k, alpha in enumerate(alphas):
                write_image(out / f"{stem}_{k}.png", alpha_to_uint(alpha))

    inner = StageTimer(timer._sync)  # prompt + m2m inside matte(); the rest is refinement
    mam.sam.decode = inner.wrap("prompt", mam.sam.decode)
    mam.sam.upscale_masks = inner.wrap("prompt", mam.sam.upscale_masks)
    with (
        ThreadPoolExecutor(1, thread_name_prefix="bench-load") as loader,
        ThreadPoolExecutor(1, thread_name_prefix="bench-write") as writer,
        timed_module(mam.m2m, inner, "m2m"),
    ):
        writes = []
        loaded = _prefetched(loader, load, images, depth=2 * batch_size)
        while batch := list(itertools.islice(loaded, batch_size)):
            with timer("encoder"):
                encoded = mam.encode([prepared for _, prepared in batch])
            for (image, _), encoded_image in zip(batch, encoded, strict=True):
                instances = [Instance(id=str(k), box=box) for k, box in enumerate(image.boxes)]
                before = inner.seconds["prompt"] + inner.seconds["m2m"]
                start = time.perf_counter()
                mattes = mam.matte(encoded_image, instances)
                elapsed = time.perf_counter() - start
                inside = inner.seconds["prompt"] + inner.seconds["m2m"] - before
                timer.add("refine", elapsed - inside)
                alphas = [m.alpha for m in mattes]
                writes.append(writer.submit(write, image.path.stem, alphas))
        for future in writes:
            future.result()
    for stage in ("prompt", "m2m"):
        timer.seconds[stage] += inner.seconds[stage]
        timer.calls[stage] += inner.calls[stage]


@dataclass
class Models:
    sam: torch.nn.Module
    m2m: M2M
    device: torch.device
    config: SamConfig

    def matting(self, precision: str, options: InferenceOptions) -> MattingAnything:
        """A MattingAnything on a copy of the SAM (low precisions cast its encoder in place)."""
        import copy

        from mamcli.model.api import MattingAnything

        sam = copy.deepcopy(self.sam)
        return MattingAnything(sam, self.m2m, self.device, precision, options=options)


def build_models(model: str, size: int, device: str) -> Models:
    """Random-weight SAM (default init) and M2M (spectral norms converged), in eval mode."""
    import torch

    from mamcli.model.api import resolve_device
    from mamcli.model.m2m import M2M, converge_spectral_norms
    from mamcli.model.sam import build_sam

    torch.manual_seed(0)
    config = sam_config(model, size)
    resolved = resolve_device(device)
    sam = build_sam(config).to(resolved).eval().requires_grad_(False)
    m2m = converge_spectral_norms(M2M()).to(resolved).eval().requires_grad_(False)
    return Models(sam, m2m, resolved, config)


def variant_runner(
    name: str, models: Models, batch_size: int = 1
) -> Callable[[list, Path, StageTimer], None]:
    """The variant as a function of (images, output folder, timer); models built once."""
    from mamcli.model.sam import SamStage

    if name == "naive":
        stage = SamStage(models.sam)
        return lambda images, out, timer: run_naive(images, stage, models.m2m, out, timer)
    mam = models.matting(*variant_settings(name))
    return lambda images, out, timer: run_mam(images, mam, out, timer, batch_size)


def time_variant(
    run: Callable, models: Models, images: list[SyntheticImage], folder: Path
) -> dict[str, object]:
    """Run one variant over all images; wall time, per-stage seconds and throughput."""
    import torch

    sync = torch.cuda.synchronize if models.device.type == "cuda" else (lambda: None)
    timer = StageTimer(sync)
    folder.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    run(images, folder, timer)
    wall = time.perf_counter() - start
    prompts = sum(len(image.boxes) for image in images)
    return {
        "wall_s": wall,
        "images_per_s": len(images) / wall,
        "prompts_per_s": prompts / wall,
        "stages_s": dict(timer.seconds),
        "stage_calls": dict(timer.calls),
        "encoder_s_per_call": timer.seconds["encoder"] / max(timer.calls["encoder"], 1),
    }


def warm_and_time(
    name: str, models: Models, images: list[SyntheticImage], folder: Path, batch_size: int = 1
) -> dict[str, object]:
    """Run the variant once on one image with one prompt (first-call allocations, kernel
    choices, compilation: reported as warm-up seconds), then time it on all images."""
    run = variant_runner(name, models, batch_size)
    start = time.perf_counter()
    first = [SyntheticImage(images[0].path, images[0].boxes[:1])]
    time_variant(run, models, first, folder.parent / f"{folder.name}-warm-up")
    warm_up = time.perf_counter() - start
    return {**time_variant(run, models, images, folder), "warm_up_s": warm_up}


def alpha_difference(reference: Path, other: Path) -> dict[str, float]:
    """|alpha - reference alpha| in 8-bit levels over all PNGs of two output folders."""
    import cv2

    diffs = []
    for path in sorted(reference.glob("*.png")):
        a = cv2.imread(str(path), cv2.IMREAD_UNCHANGED).astype(np.int16)
        b = cv2.imread(str(other / path.name), cv2.IMREAD_UNCHANGED).astype(np.int16)
        diffs.append(np.abs(a - b).ravel())
    levels = np.concatenate(diffs)
    return {
        "max_levels": float(levels.max()),
        "mean_levels": float(levels.mean()),
        "over_1_level": float((levels > 1).mean()),
    }


# ----------------------------------------------------------------------------- memory


def peak_only(args: argparse.Namespace) -> dict[str, object]:
    """Run one variant on fresh images and report this process's peak resident memory."""
    models = build_models(args.model, args.size, args.device)
    with tempfile.TemporaryDirectory(prefix="mam-bench-") as tmp:
        images = make_images(Path(tmp), args.images, args.prompts, *args.image_size)
        run = variant_runner(args.variants[0], models)
        result = time_variant(run, models, images, Path(tmp) / "out")
    return {"images": args.images, "peak_rss_mib": peak_rss_mib(), "wall_s": result["wall_s"]}


def peak_rss_mib() -> float:
    """This process's peak resident memory: VmHWM where Linux has it, since ru_maxrss keeps
    the parent's peak across fork + exec; ru_maxrss (KiB on Linux) elsewhere."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure_peak_memory(args: argparse.Namespace) -> dict[str, object]:
    """Peak RSS of `--peak-only` runs in fresh subprocesses, one per image count."""
    runs = []
    for count in args.memory_images:
        command = [
            sys.executable,
            str(Path(__file__).resolve()),
            "--peak-only",
            "--variants",
            "mam-fp32",
            "--images",
            str(count),
            "--prompts",
            str(args.prompts),
            "--model",
            args.memory_model,
            "--size",
            str(args.memory_size),
            "--image-size",
            "x".join(map(str, args.image_size)),
            "--device",
            args.device,
        ]
        _log(f"memory: {' '.join(command[1:])}")
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise SystemExit(f"memory run failed:\n{done.stderr}")
        runs.append({"command": " ".join(command[1:]), **json.loads(done.stdout.splitlines()[-1])})
    return {
        "variant": "mam-fp32",
        "model": args.memory_model,
        "size": args.memory_size,
        "prompts": args.prompts,
        "runs": runs,
    }


# ----------------------------------------------------------------------------- report


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _cpu_name() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def run_benchmark(args: argparse.Namespace) -> dict[str, object]:
    import torch

    memory = measure_peak_memory(args) if args.memory_images else None  # before the big model
    models = build_models(args.model, args.size, args.device)
    device = models.device
    variants, skipped = [], {}
    for name in args.variants:
        reason = precision_unusable_reason(device, variant_precision(name))
        if reason:
            skipped[name] = reason
            _log(f"skipping {name}: {reason}")
        else:
            variants.append(name)
    load_before = os.getloadavg()
    _log("timing matmul rates")
    used = sorted({variant_precision(name) for name in variants} | {"fp32"}, key=DTYPES.index)
    rates = {precision: matmul_rate(device, precision) for precision in used}
    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="mam-bench-") as tmp:
        images = make_images(Path(tmp), args.images, args.prompts, *args.image_size)
        for name in variants:
            _log(f"timing {name}")
            try:
                results[name] = warm_and_time(
                    name, models, images, Path(tmp) / name, args.batch_size
                )
            except RuntimeError as exc:  # a variant the model code can't run is reported
                skipped[name] = f"failed: {type(exc).__name__}: {str(exc).splitlines()[0]}"
                _log(f"{name} {skipped[name]}")
        if "naive" in results:
            for name in results:
                results[name]["alpha_vs_naive"] = alpha_difference(
                    Path(tmp) / "naive", Path(tmp) / name
                )
    flops = encoder_flops(models.config)
    previous = None
    for name, result in results.items():
        # naive encodes once per prompt; the mam variants once per image (in batches)
        encoded = args.images * (args.prompts if name == "naive" else 1)
        result["encoder_flop_per_s"] = flops * encoded / result["stages_s"]["encoder"]
        result["encoder_fraction_of_matmul"] = (
            result["encoder_flop_per_s"] / rates[variant_precision(name)]
        )
        if "naive" in results:
            for key in ("images_per_s", "prompts_per_s"):
                result[f"{key}_vs_naive"] = result[key] / results["naive"][key]
        if previous is not None:
            step = result["prompts_per_s"] / previous["prompts_per_s"]
            result["prompts_per_s_vs_previous"] = step
        previous = result
    report = {
        "date": time.strftime("%Y-%m-%d"),
        "note": RANDOM_WEIGHTS_NOTE,
        "machine": {
            "cpu": _cpu_name(),
            "cpu_count": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "torch": torch.__version__,
            "device": str(device),
            "gpu": torch.cuda.get_device_name(device) if device.type == "cuda" else None,
            "loadavg_before": load_before,
            "loadavg_after": os.getloadavg(),
        },
        "settings": {
            "images": args.images,
            "prompts": args.prompts,
            "model": args.model,
            "size": args.size,
            "image_size": args.image_size,
            "batch_size": args.batch_size,
        },
        "encoder_gflop": flops / 1e9,
        "matmul_gflop_per_s": {k: v / 1e9 for k, v in rates.items()},
        "variants": results,
        "skipped": skipped,
    }
    if memory:
        report["peak_memory"] = memory
    return report


def format_report(report: dict) -> str:
    settings, machine = report["settings"], report["machine"]
    lines = [
        f"MAM benchmark {report['date']}: {settings['images']} images x {settings['prompts']} "
        f"box prompts, {settings['model']} at {settings['size']} px, "
        f"{'x'.join(map(str, settings['image_size']))} PNGs, "
        f"{settings.get('batch_size', 1)} image(s) per encoder call in mam-*",
        f"{machine['cpu']} ({machine['cpu_count']} CPUs, {machine['torch_threads']} torch "
        f"threads), device {machine['device']}, torch {machine['torch']}, load average "
        f"{machine['loadavg_before'][0]:.2f} -> {machine['loadavg_after'][0]:.2f}",
        f"NOTE: {report['note']}",
        "",
        f"{'variant':<14}"
        + "".join(f"{s:>8}" for s in STAGES)
        + f"{'wall s':>8}{'img/s':>7}{'prompt/s':>9}{'vs naive':>9}{'vs prev':>8}"
        + f"{'warm-up':>8}{'alpha d max/mean':>17}",
    ]
    for name, r in report["variants"].items():
        ratio = r.get("images_per_s_vs_naive")
        step = r.get("prompts_per_s_vs_previous")
        alpha = r.get("alpha_vs_naive")
        lines.append(
            f"{name:<14}"
            + "".join(f"{r['stages_s'][s]:>8.2f}" for s in STAGES)
            + f"{r['wall_s']:>8.2f}{r['images_per_s']:>7.3f}{r['prompts_per_s']:>9.3f}"
            + (f"{ratio:>8.2f}x" if ratio is not None else f"{'-':>9}")
            + (f"{step:>7.2f}x" if step is not None else f"{'-':>8}")
            + f"{r['warm_up_s']:>7.1f}s"
            + (
                f"{alpha['max_levels']:>10.0f} / {alpha['mean_levels']:.3f}"
                if alpha
                else f"{'-':>17}"
            )
        )
    lines.append(
        "stage columns are seconds summed over the run; decode, resize and write run in "
        "background threads in all but naive; vs prev = prompts/s against the row above; "
        "alpha d = |alpha - naive's alpha| in 8-bit levels (max / mean)"
    )
    for name, reason in report["skipped"].items():
        lines.append(f"{name}: skipped ({reason})")
    lines.append("")
    rates = report["matmul_gflop_per_s"]
    lines.append(
        f"encoder: {report['encoder_gflop']:.1f} GFLOP per image (analytic); measured 2048^3 "
        "matmul rate: " + ", ".join(f"{k} {v:.1f} GFLOP/s" for k, v in rates.items())
    )
    for name, r in report["variants"].items():
        lines.append(
            f"  {name:<14} encoder {r['encoder_s_per_call']:.2f} s/call "
            f"({r['stage_calls']['encoder']} calls) = {r['encoder_flop_per_s'] / 1e9:.1f} "
            f"GFLOP/s = {r['encoder_fraction_of_matmul']:.0%} of the "
            f"{variant_precision(name)} matmul rate"
        )
    for name, r in report["variants"].items():
        if name != "naive" and "images_per_s_vs_naive" in r:
            lines.append(
                f"{name} images/s = {r['images_per_s_vs_naive']:.2f}x naive, "
                f"prompts/s = {r['prompts_per_s_vs_naive']:.2f}x naive"
            )
    if memory := report.get("peak_memory"):
        lines.append("")
        lines.append(
            f"peak RSS, {memory['variant']} with a {memory['model']} SAM at {memory['size']} px, "
            f"{memory['prompts']} prompt(s) per image (each in a fresh process):"
        )
        for run in memory["runs"]:
            lines.append(
                f"  {run['images']:>4} images: {run['peak_rss_mib']:.0f} MiB"
                f" (run took {run['wall_s']:.1f} s)"
            )
    return "\n".join(lines)


# ----------------------------------------------------------------------------- CLI


def _image_size(text: str) -> tuple[int, int]:
    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT, got {text!r}") from None
    return width, height


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=3, help="synthetic images (default 3)")
    parser.add_argument("--prompts", type=int, default=1, help="box prompts per image")
    parser.add_argument("--model", choices=("vit_b", "vit_l", "vit_h", "tiny"), default="vit_b")
    parser.add_argument("--size", type=int, default=1024, help="SAM input size (default 1024)")
    parser.add_argument("--image-size", type=_image_size, default=(1024, 768), help="WxH")
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1, ... (default cpu)")
    parser.add_argument(
        "--batch-size", type=int, default=1, help="images per encoder call in the mam variants"
    )
    parser.add_argument(
        "--variants",
        nargs="+",
        choices=VARIANTS,
        default=list(DEFAULT_VARIANTS),
        help="default: all but mam-compile",
    )
    parser.add_argument(
        "--memory-images",
        type=lambda s: [int(v) for v in s.split(",") if v],
        default=[10, 100],
        help="image counts for the peak-memory runs (default 10,100; '' to skip)",
    )
    parser.add_argument("--memory-model", choices=("vit_b", "tiny"), default="tiny")
    parser.add_argument("--memory-size", type=int, default=256)
    parser.add_argument("--peak-only", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args(argv)
    if args.peak_only and len(args.variants) != 1:
        parser.error("--peak-only takes exactly one of --variants")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    warnings.filterwarnings("ignore", message=".*SAM found no mask.*")  # random weights
    if args.peak_only:
        print(json.dumps(peak_only(args)))
        return
    report = run_benchmark(args)
    print(json.dumps(report, indent=2) if args.json else format_report(report))


if __name__ == "__main__":
    main()
