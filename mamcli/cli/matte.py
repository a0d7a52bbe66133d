"""`mam matte`: batch matting (mamcli/matte/)."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from mamcli.cli.common import csv_list, fail
from mamcli.errors import MamError
from mamcli.imaging.read import DEFAULT_MAX_PIXELS


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


def command(
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
        width_values = tuple(int(w) for w in csv_list(widths))
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
            outputs=tuple(csv_list(outputs)),
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
        device_list = csv_list(devices) if devices else [f"cuda:{i}" for i in range(gpus or 0)]
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
