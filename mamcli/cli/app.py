"""The `mam` command line: parses options and calls library functions.

Every command is a thin wrapper: the work is done by functions a Python user can call
the same way (see the README's "Python API").
"""

from __future__ import annotations

import json
from pathlib import Path

import typer

from mamcli import __version__
from mamcli.errors import MamError
from mamcli.imaging.read import DEFAULT_MAX_PIXELS

app = typer.Typer(
    name="mam",
    help="Batch image matting with Matting Anything (SAM + Mask-to-Matte).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"mam {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Cut out people, animals and objects with soft alpha mattes, in batch."""


def fail(error: MamError | str, code: int = 2) -> None:
    """Print one clear error line and exit with `code`."""
    typer.secho(f"mam: error: {error}", fg="red", err=True)
    raise typer.Exit(code)


# --- mam weights: list, download and locate checkpoints (mamcli/hub/weights.py) ---
weights_app = typer.Typer(help="List, download and locate model checkpoints.", no_args_is_help=True)
app.add_typer(weights_app, name="weights")


@weights_app.command("list")
def _weights_list() -> None:
    """Show the known checkpoints, their hashes and whether they are cached."""
    from rich.console import Console
    from rich.table import Table

    from mamcli.hub.weights import REGISTRY, cache_dir, cached_path

    table = Table("name", "kind", "model", "size", "sha256", "cached")
    for spec in REGISTRY.values():
        table.add_row(
            spec.name,
            spec.kind,
            spec.model,
            f"{spec.size / 1e6:.0f} MB" if spec.size else "?",
            spec.sha256[:8] if spec.sha256 else "unverified",
            "yes" if cached_path(spec).is_file() else "no",
        )
    console = Console()
    console.print(table)
    console.print(f"cache: {cache_dir() / 'checkpoints'} (set MAM_HOME to move it)", soft_wrap=True)


@weights_app.command("download")
def _weights_download(
    name: str = typer.Argument(..., help="Checkpoint name (see `mam weights list`)."),
    url: str | None = typer.Option(
        None,
        "--url",
        help="Download from here instead (http(s)://, file:// or hf://OWNER/REPO/PATH).",
    ),
    force: bool = typer.Option(False, "--force", help="Download again even if cached."),
) -> None:
    """Download a checkpoint into the cache (verifying its hash) and print its path."""
    from mamcli.hub.weights import download

    try:
        typer.echo(download(name, url=url, force=force))
    except MamError as error:
        fail(error)


@weights_app.command("path")
def _weights_path(name: str = typer.Argument(..., help="Checkpoint name.")) -> None:
    """Print where a checkpoint is cached; exit 1 if it is not downloaded yet."""
    from mamcli.hub.weights import cached_path

    try:
        path = cached_path(name)
    except MamError as error:
        fail(error)
    if not path.is_file():
        fail(f"{name} is not downloaded: run `mam weights download {name}` or put it at {path}", 1)
    typer.echo(path)


# --- mam train: train the M2M refiner on a frozen SAM (mamcli/train/, docs/train.md) ---
@app.command("train")
def _train(
    data_root: list[str] = typer.Option(
        ..., "--data-root", help="Data folder (fg/+alpha/ or image/+alpha/), DIR or DIR:WEIGHT."
    ),
    sam_checkpoint: Path = typer.Option(..., "--sam-checkpoint", help="Frozen SAM weights."),
    out_dir: Path = typer.Option(..., "-o", "--output", help="Run folder (checkpoints, log)."),
    model: str = typer.Option("vit_b", "--model", help="SAM backbone: vit_b, vit_l, vit_h, vit_t."),
    backgrounds: Path | None = typer.Option(
        None, "--backgrounds", help="Backgrounds for fg/ roots (default: ROOT/bg)."
    ),
    val_root: list[Path] = typer.Option(
        [], "--val-root", help="Validation folder(s); default: hold out --val-split."
    ),
    val_split: float = typer.Option(0.1, "--val-split", help="Fraction held out per root."),
    steps: int = typer.Option(20_000, "--steps", help="Total optimiser steps."),
    warmup_steps: int = typer.Option(4_000, "--warmup-steps", help="Linear lr warm-up steps."),
    batch_size: int = typer.Option(10, "--batch-size", help="Crops per step per process."),
    lr: float = typer.Option(1e-3, "--lr", help="Peak learning rate (Adam)."),
    crop_size: int | None = typer.Option(
        None, "--crop-size", help="Crop side before resizing to SAM's size (default: SAM's size)."
    ),
    no_augment: bool = typer.Option(
        False, "--no-augment", help="No affine/jitter/flip; fixed crops."
    ),
    device: str = typer.Option("auto", "--device", help="auto, cpu, cuda, cuda:N, mps."),
    bf16: bool = typer.Option(False, "--bf16", help="bf16 autocast for SAM and M2M."),
    workers: int = typer.Option(4, "--workers", help="Data-loading worker processes."),
    checkpoint_every: int = typer.Option(1_000, "--checkpoint-every", help="Steps per save."),
    val_every: int = typer.Option(1_000, "--val-every", help="Steps per validation."),
    log_every: int = typer.Option(10, "--log-every", help="Steps per log row."),
    seed: int = typer.Option(0, "--seed", help="Random seed."),
    resume: bool = typer.Option(False, "--resume", help="Continue the run in the output folder."),
) -> None:
    """Train the Mask-to-Matte refiner; run under torchrun for several GPUs or nodes."""
    from mamcli.train.data import RootSpec
    from mamcli.train.loop import TrainConfig, train

    try:
        summary = train(
            TrainConfig(
                data_roots=[RootSpec.parse(text) for text in data_root],
                sam_checkpoint=sam_checkpoint,
                out_dir=out_dir,
                model=model,
                backgrounds=backgrounds,
                val_roots=val_root,
                val_split=val_split,
                steps=steps,
                warmup_steps=warmup_steps,
                batch_size=batch_size,
                lr=lr,
                crop_size=crop_size,
                augment=not no_augment,
                device=device,
                bf16=bf16,
                num_workers=workers,
                checkpoint_every=checkpoint_every,
                val_every=val_every,
                log_every=log_every,
                seed=seed,
                resume=resume,
            )
        )
    except MamError as error:
        fail(error)
    if summary.rank != 0:
        return
    if summary.val_sad is not None:
        typer.echo(
            f"step {summary.steps}: loss {summary.loss:.4f}, validation SAD {summary.val_sad:.3f} "
            f"(best {summary.best_sad:.3f}, SAM mask only {summary.baseline_sad:.3f})"
        )
    typer.echo(summary.out_dir / "last.pth")


# --- mam eval and mam prompts from-alpha: metrics and the benchmark protocol (docs/eval.md) ---
@app.command("eval")
def _eval(
    gt: Path = typer.Option(..., "--gt", help="Ground-truth alpha folder."),
    pred: Path = typer.Option(
        ..., "--pred", help="Predicted alpha folder, or a `mam matte` output root (uses alpha/)."
    ),
    trimap: str | None = typer.Option(
        None,
        "--trimap",
        help="Trimap folder (unknown = 128) for the trimap-region metrics, or 'generate'.",
    ),
    trimap_band: int = typer.Option(
        10, "--trimap-band", help="With --trimap generate: band width in pixels."
    ),
    instances: bool = typer.Option(
        False, "--instances", help="One folder per image, one alpha per instance; report IMQ."
    ),
    skip_missing: bool = typer.Option(
        False,
        "--skip-missing",
        help="--instances: leave images without a prediction folder out of IMQ.",
    ),
    images: Path | None = typer.Option(
        None, "--images", help="Folder of the original images (HTML thumbnails)."
    ),
    resize: bool = typer.Option(
        False, "--resize", help="Resize predictions of another size instead of failing them."
    ),
    json_path: str | None = typer.Option(
        None, "--json", help="Write the JSON report here ('-': stdout)."
    ),
    csv_path: Path | None = typer.Option(None, "--csv", help="Write per-image rows (CSV) here."),
    html_path: Path | None = typer.Option(None, "--html", help="Write the HTML report here."),
    workers: int | None = typer.Option(
        None, "--workers", help="Worker processes (default: CPU cores, at most 8)."
    ),
) -> None:
    """Compare predicted alpha mattes with ground truth (Deep Image Matting metrics).

    Files match by relative path and stem (any image extension). Missing and extra
    predictions and bad files (unreadable, wrong size) are listed; exit code 1 when any
    GT file was not evaluated, 2 on a usage error.

    Columns (mean over images; per image in --json/--csv), p = prediction, g = GT,
    both 8-bit, over the region (whole image, or trimap pixels equal to 128):

    SAD (/1000): sum of |p - g| / 255, divided by 1000.

    MSE (x1e3): mean of ((p - g) / 255)^2, times 1000.

    MAD (x1e3): mean of |p - g| / 255, times 1000.

    Grad (/1000): sum of (|grad p| - |grad g|)^2, gradients by 9x9 derivative-of-Gaussian
    filters (sigma 1.4) on each image min-max normalised, divided by 1000.

    Conn (/1000): sum of |phi_p - phi_g|, the connectivity error (threshold step 0.1),
    divided by 1000.

    With --instances (IMQ, higher is better): IMQ (0-100) per error metric (MAD, MSE,
    Grad, Conn), MQ (0-1) the mean similarity of matched instances, RQ (0-1) =
    TP / (TP + FP/2 + FN/2), TP/FP/FN the matched, extra and missed instances (IoU >= 0.5).
    """
    import sys

    from mamcli.eval.evaluate import evaluate
    from mamcli.eval.report import markdown_summary, write_reports

    try:
        report = evaluate(
            gt,
            pred,
            trimap=trimap,
            instances=instances,
            images=images,
            resize=resize,
            band=trimap_band,
            skip_missing=skip_missing,
            workers=workers,
            thumbnails=html_path is not None,
            progress=True,
        )
        write_reports(report, json_path=json_path, csv_path=csv_path, html_path=html_path)
    except MamError as error:
        fail(error)
    if json_path != "-":
        text = markdown_summary(report)
        if sys.stdout.isatty():
            from rich.console import Console
            from rich.markdown import Markdown

            Console().print(Markdown(text))
        else:
            typer.echo(text, nl=False)
    raise typer.Exit(report.exit_code)


prompts_app = typer.Typer(help="Make prompt files for `mam matte --boxes`.", no_args_is_help=True)
app.add_typer(prompts_app, name="prompts")


@prompts_app.command("from-alpha")
def _prompts_from_alpha(
    gt: Path = typer.Argument(..., help="Ground-truth alpha folder."),
    output: Path = typer.Option(..., "-o", "--output", help="Prompt file to write (JSON)."),
    point: bool = typer.Option(
        False, "--point", help="One positive point at the box centre instead of the box."
    ),
    instances: bool = typer.Option(
        False, "--instances", help="One folder per image, one alpha per instance (id = stem)."
    ),
    images: Path | None = typer.Option(
        None, "--images", help="Image folder: key prompts by the images' own paths (a.jpg)."
    ),
    workers: int | None = typer.Option(None, "--workers", help="Worker processes."),
) -> None:
    """Write the prompts the paper derives from GT: the tight box of alpha > 127."""
    from mamcli.prompts.from_alpha import prompts_from_alpha, write_prompts

    try:
        result = prompts_from_alpha(
            gt, point=point, instances=instances, images=images, workers=workers, progress=True
        )
        write_prompts(result, output)
    except MamError as error:
        fail(error)
    for path in result.empty:
        typer.secho(f"mam: warning: {path}: no pixel with alpha > 127, no prompt", err=True)
    for line in result.errors:
        typer.secho(f"mam: error: {line}", fg="red", err=True)
    count = sum(len(items) for items in result.prompts.values())
    typer.echo(f"{output}: {count} prompts for {len(result.prompts)} images")
    raise typer.Exit(1 if result.errors else 0)


def _csv(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


def _print_summary(summary) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(stderr=True)
    console.print(f"engine: {summary.engine_note}", highlight=False, soft_wrap=True)
    table = Table(title="mam matte")
    for column in ("images", "ok", "cached", "skipped", "failed", "seconds"):
        table.add_column(column, justify="right")
    table.add_row(
        str(len(summary.records)),
        str(summary.count("ok")),
        str(summary.count("cached")),
        str(summary.count("skipped")),
        str(len(summary.failed)),
        f"{summary.elapsed:.1f}",
    )
    console.print(table)
    for record in summary.failed:
        console.print(f"[red]failed[/red] {record['error']}", highlight=False, soft_wrap=True)
    if summary.unmatched_prompts:
        names = ", ".join(summary.unmatched_prompts)
        console.print(
            f"[yellow]warning[/yellow] {len(summary.unmatched_prompts)} prompt-file entries "
            f"match no input image: {names}",
            highlight=False,
            soft_wrap=True,
        )
    if summary.manifest:
        console.print(f"manifest: {summary.manifest}", highlight=False)


def _evaluate_run(gt: Path, output: Path, inputs: list[Path]) -> None:
    """The optional metrics report of a matting run, written to OUT/eval/."""
    from mamcli.eval.evaluate import evaluate
    from mamcli.eval.report import write_reports
    from mamcli.eval.report.tables import markdown_summary

    images = inputs[0] if len(inputs) == 1 and inputs[0].is_dir() else None
    try:
        report = evaluate(gt, output, images=images, workers=1, thumbnails=True)
        written = write_reports(report, output / "eval")
    except MamError as exc:
        fail(exc)
    typer.echo(markdown_summary(report), err=True)
    typer.echo(f"eval report: {', '.join(str(p) for p in written)}", err=True)


@app.command("matte")
def _matte(
    inputs: list[Path] = typer.Argument(..., help="Image files and folders (recursive)."),
    output: Path = typer.Option(..., "-o", "--output", help="Output folder."),
    glob: str = typer.Option(None, help="Only files whose path matches, e.g. '*.jpg'."),
    boxes: Path = typer.Option(
        None, help="Prompt file keyed by relative path or name [default: INPUT/boxes.json]."
    ),
    coco: Path = typer.Option(None, help="COCO detections or annotations file."),
    category: str = typer.Option(None, help="Keep these classes (names or ids, comma-separated)."),
    min_score: float = typer.Option(None, help="Drop detections scored below this."),
    sidecars: bool = typer.Option(True, help="Read <stem>.json/.txt/.xml prompts beside images."),
    auto: str = typer.Option("subject", help="Images without prompts: subject, all or none."),
    max_instances: int = typer.Option(
        None, help="At most this many instances: per image with --auto all [5], per text [1]."
    ),
    text: str = typer.Option(None, help="Find this (e.g. 'the dog') in images without prompts."),
    box_threshold: float = typer.Option(0.35, help="Text prompts: keep boxes scored above this."),
    text_threshold: float = typer.Option(0.25, help="Text prompts: tokens that name a box."),
    nms_iou: float = typer.Option(0.8, help="Text prompts: drop boxes overlapping a better one."),
    detector: Path = typer.Option(None, help="Grounding DINO folder (wins over the cache)."),
    engine: str = typer.Option("auto", help="auto (MAM if weights are found), mam or classic."),
    model: str = typer.Option("vit_b", help="SAM backbone: vit_b, vit_l, vit_h or vit_t."),
    sam_checkpoint: Path = typer.Option(None, help="SAM checkpoint file (wins over the cache)."),
    m2m_checkpoint: Path = typer.Option(None, help="M2M checkpoint file (wins over the cache)."),
    refiner: str = typer.Option("m2m", help="MAM refiner: m2m, none (SAM mask) or cf."),
    refine: str = typer.Option("postprocess", help="Refinement: postprocess or maskguide."),
    widths: str = typer.Option("10,20,10", help="Refinement widths w8,w4,w1 (pixels)."),
    device: str = typer.Option("auto", help="auto, cpu, cuda, cuda:N or mps."),
    devices: str = typer.Option(None, help="One worker per device, e.g. cuda:0,cuda:1."),
    gpus: int = typer.Option(None, help="One worker per GPU on the first N GPUs."),
    precision: str = typer.Option(
        "auto",
        help="auto (bf16 where the device runs it natively fast, else fp32), fp32, bf16, fp16.",
    ),
    compile_models: bool = typer.Option(
        False,
        "--compile",
        help="torch.compile SAM's encoder and M2M: minutes to compile first; measured no "
        "faster on CPUs (docs/performance.md), meant for long GPU runs.",
    ),
    outputs: str = typer.Option("alpha,cutout,composite", help="alpha,cutout,composite,mask."),
    alpha_depth: int = typer.Option(8, help="Bits per alpha pixel: 8 or 16."),
    foreground: bool = typer.Option(True, help="Estimate foreground colours for cut-outs."),
    background: str = typer.Option("white", help="Composite background: colour, image, folder."),
    composite_format: str = typer.Option("jpg", help="jpg, png or webp."),
    crop_to_subject: bool = typer.Option(False, help="Crop cut-outs and composites to the alpha."),
    margin: int = typer.Option(0, help="Pixels kept around the subject with --crop-to-subject."),
    batch_size: int = typer.Option(1, help="Images per encoder batch."),
    workers: int = typer.Option(2, help="Image loading threads."),
    max_pixels: int = typer.Option(DEFAULT_MAX_PIXELS, help="Refuse images with more pixels."),
    overwrite: bool = typer.Option(False, help="Redo images whose outputs already exist."),
    fail_fast: bool = typer.Option(False, help="Stop at the first failed image."),
    json_out: bool = typer.Option(False, "--json", help="Print a JSON summary on stdout."),
    gt: Path = typer.Option(None, help="Ground-truth alphas: evaluate the run into OUT/eval/."),
) -> None:
    """Cut out subjects from images in batch: alphas, cut-outs, composites, a manifest.

    Exit code 0 when every image succeeded, 1 when some failed (listed), 2 for usage errors.
    """
    from mamcli.engines.classic import ClassicConfig
    from mamcli.engines.mam import EngineSettings
    from mamcli.matte.run import MatteConfig, run_on_devices
    from mamcli.model.refine import RefineConfig
    from mamcli.prompts.sources import PromptSources
    from mamcli.prompts.text import TextDetectorConfig

    try:
        width_values = tuple(int(w) for w in _csv(widths))
        if len(width_values) != 3:
            raise MamError("--widths takes three numbers, e.g. 10,20,10")
        config = MatteConfig(
            inputs=inputs,
            out_dir=output,
            glob=glob,
            prompts=PromptSources(boxes, coco, category, min_score, sidecars),
            auto=auto,
            max_instances=max_instances or 5,
            text=text,
            text_config=TextDetectorConfig(
                box_threshold, text_threshold, nms_iou, max_instances or 1
            ),
            detector=detector,
            engine=EngineSettings(
                engine=engine,
                model=model,
                sam_checkpoint=sam_checkpoint,
                m2m_checkpoint=m2m_checkpoint,
                refiner=refiner,
                refine=RefineConfig(mode=refine, widths=width_values),
                device=device,
                precision=precision,
                compile=compile_models,
                classic=ClassicConfig(),
            ),
            outputs=tuple(_csv(outputs)),
            alpha_depth=alpha_depth,
            estimate_foreground=foreground,
            background=background,
            composite_format=composite_format,
            crop_to_subject=crop_to_subject,
            margin=margin,
            batch_size=batch_size,
            workers=workers,
            max_pixels=max_pixels,
            overwrite=overwrite,
            fail_fast=fail_fast,
        )
        if boxes is None and len(inputs) == 1 and (inputs[0] / "boxes.json").is_file():
            config.prompts.boxes_file = inputs[0] / "boxes.json"
        device_list = _csv(devices) if devices else [f"cuda:{i}" for i in range(gpus or 0)]
        summary = run_on_devices(config, device_list or [device])
    except (MamError, ValueError) as exc:
        fail(exc)
    except KeyboardInterrupt:
        typer.echo(
            "interrupted: finished images are kept; run the same command again to resume",
            err=True,
        )
        raise typer.Exit(130) from None
    if not summary.is_main:  # rank 0 reports for every worker
        raise typer.Exit(summary.exit_code)
    _print_summary(summary)
    if gt is not None:
        _evaluate_run(gt, output, inputs)
    if json_out:
        typer.echo(json.dumps(summary.as_dict(), indent=2))
    raise typer.Exit(summary.exit_code)


def main() -> None:
    """Console-script entry point."""
    app()
