"""`mam eval`: matting metrics and reports (mamcli/eval/, docs/eval.md)."""

from __future__ import annotations

from pathlib import Path

import typer

from mamcli.cli.common import fail
from mamcli.errors import MamError


def command(
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
