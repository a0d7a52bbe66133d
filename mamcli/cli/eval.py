"""`mam eval`: matting metrics and reports; the help's metric list comes from METRICS."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from mamcli.eval.imq import IMQ_SCORES
from mamcli.eval.metrics import METRICS
from mamcli.imaging.limits import DEFAULT_MAX_PIXELS
from mamcli.imaging.trimap import DEFAULT_BAND

INPUTS = "Inputs"
REGION = "Region and matching"
REPORTS = "Reports"
LIMITS = "Limits and speed"


def command(
    gt: Path = typer.Option(..., "--gt", help="Ground-truth alpha folder.", rich_help_panel=INPUTS),
    pred: Path = typer.Option(
        ...,
        "--pred",
        help="Predicted alpha folder, or a `mam matte` output root (uses alpha/ and manifest).",
        rich_help_panel=INPUTS,
    ),
    images: Path | None = typer.Option(
        None,
        "--images",
        help="Folder of the original photos (HTML report; default: the manifest's inputs).",
        rich_help_panel=INPUTS,
    ),
    trimap: str | None = typer.Option(
        None,
        "--trimap",
        metavar="DIR|generate",
        help="Trimap folder (unknown = 128) for the trimap-region metrics, or 'generate' "
        "(a band around the GT).",
        rich_help_panel=REGION,
    ),
    trimap_band: int = typer.Option(
        DEFAULT_BAND,
        "--trimap-band",
        min=1,
        help="With --trimap generate: band width in pixels.",
        rich_help_panel=REGION,
    ),
    instances: bool = typer.Option(
        False,
        "--instances",
        help="One folder per image, one alpha per instance; report IMQ.",
        rich_help_panel=REGION,
    ),
    skip_missing: bool = typer.Option(
        False,
        "--skip-missing",
        help="--instances: leave images without a prediction folder out of IMQ.",
        rich_help_panel=REGION,
    ),
    resize: bool = typer.Option(
        False,
        "--resize",
        help="Resize predictions of another size instead of failing them.",
        rich_help_panel=REGION,
    ),
    json_path: str | None = typer.Option(
        None, "--json", help="Write the JSON report here ('-': stdout).", rich_help_panel=REPORTS
    ),
    csv_path: Path | None = typer.Option(
        None, "--csv", help="Write per-image rows (CSV) here.", rich_help_panel=REPORTS
    ),
    html_path: Path | None = typer.Option(
        None,
        "--html",
        help="Write a self-contained HTML report here (sortable table, heat maps).",
        rich_help_panel=REPORTS,
    ),
    max_pixels: int = typer.Option(
        DEFAULT_MAX_PIXELS,
        "--max-pixels",
        min=1,
        help="Refuse files whose header announces more pixels.",
        rich_help_panel=LIMITS,
    ),
    workers: int | None = typer.Option(
        None,
        "--workers",
        min=1,
        help="Worker processes (default: CPU cores, at most 8).",
        rich_help_panel=LIMITS,
    ),
) -> None:
    from mamcli.eval.evaluate import evaluate
    from mamcli.eval.report import markdown_summary, write_reports
    from mamcli.eval.report.tables import note_lines

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
        max_pixels=max_pixels,
    )
    write_reports(report, json_path=json_path, csv_path=csv_path, html_path=html_path)
    for line in note_lines(report):
        typer.secho(f"mam: note: {line}", err=True)
    if report.hint:
        typer.secho(f"mam: hint: {report.hint}", fg="yellow", err=True)
    if json_path != "-":
        text = markdown_summary(report)
        if sys.stdout.isatty():
            from rich.console import Console
            from rich.markdown import Markdown

            Console().print(Markdown(text))
        else:
            typer.echo(text, nl=False)
    raise typer.Exit(report.exit_code)


def _help() -> str:
    """The command's help: what it does, examples, exit codes and, from METRICS, the columns."""
    metrics = "\n\n".join(f"{m.header}: {m.definition}." for m in METRICS.values())
    scores = "\n\n".join(f"{text}." for text in IMQ_SCORES.values())
    return f"""Compare predicted alpha mattes with ground truth (Deep Image Matting metrics).

Files match by relative path and stem (any image extension). Predictions must be alpha \
mattes: grey, or RGB with equal channels; an RGBA file's alpha channel is used; a colour \
photo is refused. 16-bit files are scaled to 8 bits.

Examples:

  mam eval --gt data/alpha --pred out --html report.html

  mam eval --gt data/alpha --pred out/alpha --trimap generate --json -

  mam eval --gt data/instances --pred out --instances --csv per_image.csv

Exit codes: 0 every GT file evaluated; 1 some GT file missing a prediction or failed \
(unreadable, colour, wrong size); 2 a usage error (bad folder or option).

Columns (mean over images; per image in --json/--csv/--html) over the region R, the whole \
image or the trimap's unknown (128) pixels, p and g scaled to 0..1:

{metrics}

With --instances (higher is better):

{scores}
"""


command.__doc__ = _help()
