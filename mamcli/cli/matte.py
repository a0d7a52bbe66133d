"""`mam matte`: batch matting. Its flags are generated from `MatteConfig` (one home per
option); this module only parses them, calls `run_matte` and prints the summary."""

from __future__ import annotations

import json
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from mamcli.cli.common import fail
from mamcli.cli.display import LiveDisplay, Verbosity
from mamcli.cli.options import build_config, config_argument, config_params, ordered, with_params
from mamcli.errors import MamError, UsageError
from mamcli.matte.config import MatteConfig
from mamcli.matte.summary import RunSummary
from mamcli.options import Resume, option

EXAMPLES = """Cut out subjects from images in batch: alphas, cut-outs, composites, a manifest.

Examples:

  mam matte photos --boxes boxes.json -o out

  mam matte photos -o out --auto all --max-instances 3 --outputs alpha,mask

  mam matte photos -o out --text "the dog" --background "#2e7d32"

  mam matte photos -o out --devices cuda:0,cuda:1

  mam matte - -o - --engine classic < photo.jpg > alpha.png

Prompts: --boxes, then --coco, win over sidecar files; images without prompts follow
--auto. Exit codes: 0 all done, 1 some images failed (listed), 2 usage error, 3 output
folder unwritable, 4 network failure, 5 another run holds the output folder,
130 interrupted.
"""


@dataclass
class Reporting:
    """How `mam matte` reports (not matting options: nothing here changes an output)."""

    quiet: bool = option(
        False, short="-q", resume=Resume.RUN, panel="Run", help="Print errors only."
    )
    verbose: bool = option(
        False,
        short="-v",
        resume=Resume.RUN,
        panel="Run",
        help="One line per image: status, path, seconds.",
    )
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

    def verbosity(self) -> Verbosity:
        if self.quiet and self.verbose:
            raise UsageError("-q/--quiet and -v/--verbose: choose one")
        if self.quiet:
            return Verbosity.QUIET
        return Verbosity.VERBOSE if self.verbose else Verbosity.NORMAL


MATTE_PARAMS = config_params(MatteConfig)
REPORT_PARAMS = config_params(Reporting)
INPUTS = config_argument(MatteConfig, "inputs")

# How many unmatched prompt-file names the warning lists before "and N more".
UNMATCHED_SHOWN = 10
STATUS_MEANING = {
    "cached": "cached = same settings, prompts and input as an earlier run: outputs kept",
    "skipped": "skipped = no prompt with --auto none",
}
STDIO = Path("-")
# With `-o -` stdout gets the first of these that --outputs names.
STDOUT_KINDS = ("alpha", "cutout", "mask", "composite")


def _print_summary(summary: RunSummary, console: Console) -> None:
    """The table, failures, prompt sources and warnings (all user text escaped)."""
    console.print(f"engine: {escape(summary.engine or '-')} ({escape(summary.engine_note)})")
    counts = {
        "images": len(summary.records),
        "ok": summary.count("ok"),
        "cached": summary.count("cached"),
        "skipped": summary.count("skipped"),
        "failed": len(summary.failed),
    }
    table = Table(title="mam matte")
    for column in (*counts, "seconds"):
        table.add_column(column, justify="right")
    table.add_row(*(str(v) for v in counts.values()), f"{summary.elapsed:.1f}")
    console.print(table)
    for status, meaning in STATUS_MEANING.items():
        if counts[status]:
            console.print(meaning)
    sources = summary.prompt_sources()
    if sources:
        images = ", ".join(f"{escape(k)} ({n} image{'s' * (n != 1)})" for k, n in sources.items())
        console.print(f"prompts from: {images}")
    for record in summary.failed:
        console.print(f"[red]failed[/red] {escape(record.error or record.rel)}")
    if summary.unmatched_prompts:
        console.print(f"[yellow]warning[/yellow] {_unmatched_line(summary.unmatched_prompts)}")
    if summary.manifest:
        console.print(f"manifest: {escape(str(summary.manifest))}")


def _unmatched_line(names: list[str]) -> str:
    shown = ", ".join(escape(name) for name in names[:UNMATCHED_SHOWN])
    more = f" and {len(names) - UNMATCHED_SHOWN} more" if len(names) > UNMATCHED_SHOWN else ""
    return f"{len(names)} prompt-file entries match no input image: {shown}{more}"


def _evaluate_run(gt: Path, output: Path, inputs: list[Path]) -> None:
    """The optional metrics report of a matting run, written to OUT/eval/."""
    from mamcli.eval.config import EvalConfig
    from mamcli.eval.evaluate import evaluate
    from mamcli.eval.report import write_reports
    from mamcli.eval.report.tables import markdown_summary

    images = inputs[0] if len(inputs) == 1 and inputs[0].is_dir() else None
    try:
        report = evaluate(EvalConfig(gt, output, images=images, workers=1, thumbnails=True))
        written = write_reports(report, output / "eval")
    except MamError as exc:
        fail(exc)
    typer.echo(markdown_summary(report), err=True)
    typer.echo(f"eval report: {', '.join(str(p) for p in written)}", err=True)


def _run(config: MatteConfig, display: LiveDisplay) -> RunSummary:
    """`run_matte` with the live display; Ctrl-C says how far the run got."""
    from mamcli.matte.run import run_matte

    try:
        summary = run_matte(config, display)
    except KeyboardInterrupt:
        display.close()
        raise KeyboardInterrupt(display.interrupted_note()) from None
    finally:
        display.close()
    summary.engine = summary.engine or display.engine
    return summary


def _matte_stdio(config: MatteConfig, report: Reporting, display: LiveDisplay) -> int:
    """`mam matte - -o -`: one image from stdin, its alpha (or --outputs kind) PNG on stdout;
    the run happens in a temporary folder that is removed afterwards."""
    if report.json_summary or report.gt is not None:
        raise UsageError("-o -: stdout carries the image; --json and --gt need -o DIR")
    kind = next(k for k in STDOUT_KINDS if k in config.outputs)
    data = sys.stdin.buffer.read()
    if not data:
        raise UsageError("-: no image bytes on stdin")
    with tempfile.TemporaryDirectory(prefix="mam-stdio-") as folder:
        source = Path(folder) / "stdin.png"  # decoded by content: any supported format
        source.write_bytes(data)
        config.inputs, config.out_dir, config.outputs = [source], Path(folder) / "out", (kind,)
        config.validate()
        summary = _run(config, display)
        summary.manifest = None  # it lives in the temporary folder
        if report.verbosity() >= Verbosity.NORMAL or summary.failed:
            _print_summary(summary, display.console)
        record = summary.records[0] if summary.records else None
        if record is not None and kind in record.outputs:
            sys.stdout.buffer.write(Path(record.outputs[kind]).read_bytes())
            sys.stdout.buffer.flush()
    return summary.exit_code


def _command(inputs: list[Path], **values: Any) -> None:
    config = build_config(MatteConfig, MATTE_PARAMS, values, inputs=inputs)
    report = build_config(Reporting, REPORT_PARAMS, values)
    display = LiveDisplay(report.verbosity())
    stdin, stdout = config.inputs == [STDIO], config.out_dir == STDIO
    if stdin != stdout:
        raise UsageError("- (stdin) and -o - (stdout) go together: mam matte - -o - < in > out")
    if stdin:
        raise typer.Exit(_matte_stdio(config, report, display))
    config.validate()  # before any heavy import: a bad value answers at once
    summary = _run(config, display)
    if not summary.is_main:  # rank 0 reports for every worker
        raise typer.Exit(summary.exit_code)
    if report.verbosity() >= Verbosity.NORMAL:
        _print_summary(summary, display.console)
    if report.gt is not None:
        _evaluate_run(report.gt, config.out_dir, config.inputs)
    if report.json_summary:
        typer.echo(json.dumps(summary.as_dict(), indent=2))
    raise typer.Exit(summary.exit_code)


command = with_params(_command, ordered(MATTE_PARAMS + REPORT_PARAMS), [INPUTS])
command.__doc__ = EXAMPLES
