"""An EvalReport as JSON, CSV rows and a Markdown summary, in the units papers print."""

from __future__ import annotations

import csv
import io
import math
from typing import TYPE_CHECKING

from mamcli.eval.imq import IMQ_METRICS, IMQ_SCORES
from mamcli.eval.metrics import METRICS, to_report_units

if TYPE_CHECKING:
    from mamcli.eval.evaluate import EvalReport, ImageResult

FORMAT = "mam-eval/1"

LIST_LIMIT = 10


def units() -> dict[str, str]:
    """Metric -> its definition and report unit, for the JSON report."""
    return {
        name: f"{m.definition}, p and g scaled to 0..1 ({m.unit})" for name, m in METRICS.items()
    }


def region_label(report: EvalReport, region: str) -> str:
    """Human name of a region; a generated trimap says so."""
    if region == "whole":
        return "whole image"
    return f"trimap unknown ({report.trimap_source})"


def _clean(value: object) -> object:
    """JSON-safe: NaN -> None, recursively."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    return value


def _instance_row(result: ImageResult) -> dict[str, object]:
    scores = result.instances.scores()
    return {"gt": result.gt_count, "pred": result.pred_count, **scores}


def report_json(report: EvalReport) -> dict[str, object]:
    """The JSON document `mam eval --json` writes (schema in docs/eval.md)."""
    doc: dict[str, object] = {
        "format": FORMAT,
        "gt_root": report.gt_root,
        "pred_root": report.pred_root,
        "mode": "instances" if report.instances else "alpha",
        "trimap_source": report.trimap_source,
        "units": dict(IMQ_SCORES) if report.instances else units(),
        "images": {},
        "missing": report.missing,
        "extra": report.extra,
        "errors": [{"path": r.path, "error": r.error} for r in report.failed],
        "warnings": [{"path": r.path, "warning": r.warning} for r in report.images if r.warning],
        "notes": note_lines(report),
        "hint": report.hint,
    }
    evaluated = report.evaluated
    if report.instances:
        doc["images"] = {r.path: _instance_row(r) for r in evaluated}
        doc["skip_missing"] = report.skip_missing
        doc["instances"] = report.imq()
    else:
        doc["images"] = {
            r.path: {region: to_report_units(values) for region, values in r.errors.items()}
            for r in evaluated
        }
        doc["mean"] = report.mean()
    doc["count"] = {"evaluated": len(evaluated)}
    return _clean(doc)


def csv_text(report: EvalReport) -> str:
    """One row per GT file: path, status (ok, missing, error), the metrics, the error."""
    if report.instances:
        names = ["gt", "pred", "tp", "fp", "fn"]
        names += [f"imq_{m}" for m in IMQ_METRICS] + ["rq"] + [f"mq_{m}" for m in IMQ_METRICS]
    else:
        names = [
            f"{_csv_region(report, region)}_{m}_{METRICS[m].csv_suffix}"
            for region in report.regions
            for m in METRICS
        ]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["path", "status", *names, "error"])
    blank = [""] * len(names)
    rows = [[path, "missing", *blank, ""] for path in report.missing]
    missing = set(report.missing)
    for result in report.images:
        if result.error:
            rows.append([result.path, "error", *blank, result.error])
        elif result.path not in missing:
            rows.append([result.path, "ok", *_csv_values(report, result), ""])
    writer.writerows(sorted(rows, key=lambda row: row[0]))
    return buffer.getvalue()


def _csv_region(report: EvalReport, region: str) -> str:
    return (
        "trimap_generated" if region == "trimap" and report.trimap_source == "generated" else region
    )


def _csv_values(report: EvalReport, result: ImageResult) -> list[object]:
    if report.instances:
        s = _instance_row(result)
        return [
            *(s[k] for k in ("gt", "pred", "tp", "fp", "fn")),
            *(s["imq"][m] for m in IMQ_METRICS),
            s["rq"],
            *(s["mq"][m] for m in IMQ_METRICS),
        ]
    return [to_report_units(result.errors[r])[m] for r in report.regions for m in METRICS]


def fmt(value: float | None) -> str:
    """Numbers as papers print them: 2 decimals, more digits for small values."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value:.2f}" if abs(value) >= 1 or value == 0 else f"{value:.3g}"


def _short_list(title: str, items: list[str]) -> list[str]:
    if not items:
        return []
    shown = [f"- {item}" for item in items[:LIST_LIMIT]]
    if len(items) > LIST_LIMIT:
        shown.append(f"- ... and {len(items) - LIST_LIMIT} more (see the JSON or CSV report)")
    return ["", f"**{title} ({len(items)})**", "", *shown]


def summary_rows(report: EvalReport) -> tuple[list[str], list[list[str]]]:
    """The summary table (header, rows) shared by the Markdown and HTML reports."""
    if report.instances:
        scores = report.imq()
        header = ["error metric", "IMQ (0-100)", "MQ (0-1)", "RQ (0-1)", "TP", "FP", "FN"]
        counts = [str(scores[k]) for k in ("tp", "fp", "fn")]
        rq = fmt(scores["rq"])
        rows = [
            [METRICS[m].label, fmt(scores["imq"][m]), fmt(scores["mq"][m]), rq, *counts]
            for m in IMQ_METRICS
        ]
        return header, rows
    header = ["region", "images", *(m.header for m in METRICS.values())]
    means = report.mean()
    count = str(len(report.evaluated))
    rows = [
        [region_label(report, region), count, *(fmt(means[region][m]) for m in METRICS)]
        for region in report.regions
    ]
    return header, rows


def headline(report: EvalReport) -> str:
    """One line: how many files were evaluated, missing, failed, extra."""
    parts = [f"{len(report.evaluated)} evaluated"]
    for name, items in (
        ("missing", report.missing),
        ("failed", report.failed),
        ("extra", report.extra),
    ):
        if items:
            parts.append(f"{len(items)} {name}")
    return ", ".join(parts)


def note_lines(report: EvalReport) -> list[str]:
    """Each decoding note once, with how many predictions it concerns (a few named)."""
    paths: dict[str, list[str]] = {}
    for result in report.images:
        for note in dict.fromkeys(result.notes):
            paths.setdefault(note, []).append(result.path)
    lines = []
    for note, items in paths.items():
        named = ", ".join(items[:3]) + (", ..." if len(items) > 3 else "")
        files = "1 file" if len(items) == 1 else f"{len(items)} files"
        lines.append(f"{note}: {files} ({named})")
    return lines


def markdown_summary(report: EvalReport) -> str:
    """The Markdown summary `mam eval` prints: the mean table and the unmatched files."""
    header, rows = summary_rows(report)
    lines = [f"### mam eval: {headline(report)}", ""]
    if report.hint:
        lines += [f"**{report.hint}**", ""]
    lines.append("| " + " | ".join(header) + " |")
    lines.append("|" + "---|" * len(header))
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    if report.instances and report.skip_missing and report.missing:
        lines += ["", "Images without a prediction folder are left out of IMQ (--skip-missing)."]
    lines += _short_list("Missing predictions", report.missing)
    lines += _short_list("Errors", [f"{r.path}: {r.error}" for r in report.failed])
    lines += _short_list("Extra predictions (no ground truth)", report.extra)
    lines += _short_list("Warnings", [f"{r.path}: {r.warning}" for r in report.images if r.warning])
    lines += _short_list("Notes", note_lines(report))
    return "\n".join(lines) + "\n"
