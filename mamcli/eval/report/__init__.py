"""Writers for evaluation reports: JSON, CSV, Markdown and a self-contained HTML page."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from mamcli.eval.report.html import html_report
from mamcli.eval.report.tables import csv_text, markdown_summary, report_json
from mamcli.runtime.atomic import atomic_write_text

if TYPE_CHECKING:
    from mamcli.eval.evaluate import EvalReport

__all__ = ["csv_text", "html_report", "markdown_summary", "report_json", "write_reports"]


def write_reports(
    report: EvalReport,
    out_dir: str | Path | None = None,
    *,
    json_path: str | Path | None = None,
    csv_path: str | Path | None = None,
    html_path: str | Path | None = None,
) -> list[Path]:
    """Write the report files and return their paths.

    out_dir writes eval.json, eval.csv and eval.html into that folder; the explicit
    paths override or add single files. json_path "-" prints the JSON to stdout.
    """
    if out_dir is not None:
        out = Path(out_dir)
        json_path = json_path or out / "eval.json"
        csv_path = csv_path or out / "eval.csv"
        html_path = html_path or out / "eval.html"
    written = []
    if json_path is not None:
        text = json.dumps(report_json(report), indent=2, allow_nan=False) + "\n"
        if str(json_path) == "-":
            sys.stdout.write(text)
        else:
            atomic_write_text(json_path, text)
            written.append(Path(json_path))
    for path, render in ((csv_path, csv_text), (html_path, html_report)):
        if path is not None:
            atomic_write_text(path, render(report))
            written.append(Path(path))
    return written
