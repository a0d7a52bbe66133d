"""`mam eval`: matting metrics and reports. Its flags are generated from `EvalConfig` (one
home per option); the help's metric list comes from METRICS."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import typer

from mamcli.cli.options import build_config, config_params, with_params
from mamcli.eval.config import EvalConfig
from mamcli.eval.imq import IMQ_SCORES
from mamcli.eval.metrics import METRICS
from mamcli.options import Resume, option

REPORTS = "Reports"


@dataclass
class ReportFiles:
    """Where `mam eval` writes its reports (the Markdown summary always goes to stdout)."""

    json_path: str | None = option(
        None,
        flag="--json",
        resume=Resume.RUN,
        panel=REPORTS,
        metavar="FILE|-",
        help="Write the JSON report here ('-': stdout).",
    )
    csv_path: Path | None = option(
        None,
        flag="--csv",
        resume=Resume.RUN,
        panel=REPORTS,
        metavar="FILE",
        help="Write per-image rows (CSV) here.",
    )
    html_path: Path | None = option(
        None,
        flag="--html",
        resume=Resume.RUN,
        panel=REPORTS,
        metavar="FILE",
        help="Write a self-contained HTML report here (sortable table, heat maps).",
    )


EVAL_PARAMS = config_params(EvalConfig)
REPORT_PARAMS = config_params(ReportFiles)


def _command(**values: Any) -> None:
    from mamcli.eval.evaluate import evaluate
    from mamcli.eval.report import markdown_summary, write_reports
    from mamcli.eval.report.tables import note_lines

    files = build_config(ReportFiles, REPORT_PARAMS, values)
    thumbnails = files.html_path is not None  # the HTML report shows them
    config = build_config(EvalConfig, EVAL_PARAMS, values, progress=True, thumbnails=thumbnails)
    report = evaluate(config)
    write_reports(
        report, json_path=files.json_path, csv_path=files.csv_path, html_path=files.html_path
    )
    for line in note_lines(report):
        typer.secho(f"mam: note: {line}", err=True)
    if report.hint:
        typer.secho(f"mam: hint: {report.hint}", fg="yellow", err=True)
    if files.json_path != "-":
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


command = with_params(_command, EVAL_PARAMS + REPORT_PARAMS, [])
command.__doc__ = _help()
