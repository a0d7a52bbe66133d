"""`mam matte`: batch matting. Its flags are generated from `MatteConfig` (one home per
option); this module only parses them, calls `run_matte` and prints the summary."""

from __future__ import annotations

import inspect
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import typer

from mamcli.cli.common import fail
from mamcli.cli.options import build_config, config_params, with_params
from mamcli.errors import MamError
from mamcli.matte.config import MatteConfig
from mamcli.options import Resume, option

EXAMPLES = """Cut out subjects from images in batch: alphas, cut-outs, composites, a manifest.

Examples:

  mam matte photos --boxes boxes.json -o out

  mam matte photos -o out --auto all --max-instances 3 --outputs alpha,mask

  mam matte photos -o out --text "the dog" --background "#2e7d32"

  mam matte photos -o out --devices cuda:0,cuda:1

Prompts: --boxes/--coco win over sidecar files; images without prompts follow --auto.
Exit codes: 0 all done, 1 some images failed (listed), 2 usage error, 3 output folder
unwritable, 5 another run holds the output folder, 130 interrupted.
"""


@dataclass
class Reporting:
    """How `mam matte` reports (not matting options: nothing here changes an output)."""

    json_summary: bool = option(
        False, flag="--json", resume=Resume.RUN, panel="Run", help="Print a JSON summary on stdout."
    )
    gt: Path | None = option(
        None,
        resume=Resume.RUN,
        panel="Run",
        metavar="DIR",
        help="Ground-truth alphas: evaluate the run into OUT/eval/.",
    )


MATTE_PARAMS = config_params(MatteConfig)
REPORT_PARAMS = config_params(Reporting)
INPUTS = inspect.Parameter(
    "inputs",
    inspect.Parameter.KEYWORD_ONLY,
    default=typer.Argument(..., help="Image files and folders (recursive)."),
    annotation=list[Path],
)


def _print_summary(summary) -> None:
    from rich.console import Console
    from rich.markup import escape
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
        console.print(
            f"[red]failed[/red] {escape(record.error or '')}", highlight=False, soft_wrap=True
        )
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


def _command(inputs: list[Path], **values: Any) -> None:
    config = build_config(MatteConfig, MATTE_PARAMS, values, inputs=inputs)
    report = build_config(Reporting, REPORT_PARAMS, values)
    config.validate()  # before any heavy import: a bad value answers at once
    from mamcli.matte.run import run_matte

    summary = run_matte(config)
    if not summary.is_main:  # rank 0 reports for every worker
        raise typer.Exit(summary.exit_code)
    _print_summary(summary)
    if report.gt is not None:
        _evaluate_run(report.gt, config.out_dir, config.inputs)
    if report.json_summary:
        typer.echo(json.dumps(summary.as_dict(), indent=2))
    raise typer.Exit(summary.exit_code)


command = with_params(_command, MATTE_PARAMS + REPORT_PARAMS, [INPUTS])
command.__doc__ = EXAMPLES
