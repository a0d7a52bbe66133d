"""A self-contained HTML report (no network): the run's summary on top, a sortable table of
every image (worst first), then per image its photo, GT, prediction and an error heat map
with a colour bar. Pictures are embedded as base64; the sorting script is inline."""

from __future__ import annotations

import base64
import math
from html import escape
from typing import TYPE_CHECKING

from mamcli.eval.imq import IMQ_METRICS
from mamcli.eval.metrics import METRICS, to_report_units
from mamcli.eval.report.page import SCRIPT, STYLE
from mamcli.eval.report.tables import fmt, headline, note_lines, region_label, summary_rows
from mamcli.eval.report.thumbs import colour_bar

if TYPE_CHECKING:
    from mamcli.eval.results import EvalReport, ImageResult

# The per-image table's error columns, in the order of the METRICS table.
TABLE_METRICS = ("sad", "mse", "grad", "conn")
_CAPTIONS = {"image": "photo", "gt": "ground truth", "pred": "prediction"}
_MIME = {"image": "image/jpeg", "gt": "image/png", "pred": "image/png", "error": "image/jpeg"}


def _table(header: list[str], rows: list[list[str]], css: str = "") -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f'<table class="{css}"><tr>{head}</tr>{body}</table>'


def _list(title: str, items: list[str], css: str = "") -> str:
    if not items:
        return ""
    entries = "".join(f"<li>{escape(item)}</li>" for item in items)
    summary = f"<summary>{escape(title)} ({len(items)})</summary>"
    return f'<details open class="{css}">{summary}<ul>{entries}</ul></details>'


def _columns(report: EvalReport) -> list[tuple[str, str, str]]:
    """(key, header, first click's direction) of the sortable per-image table."""
    if report.instances:
        imq = [(f"imq_{m}", f"IMQ {METRICS[m].label}", "asc") for m in IMQ_METRICS]
        return [*imq, ("rq", "RQ", "asc")]
    return [(m, METRICS[m].header, "desc") for m in TABLE_METRICS]


def _values(report: EvalReport, result: ImageResult) -> dict[str, float]:
    """The sortable numbers of one image (report units)."""
    if report.instances:
        scores = result.instances.scores()
        return {**{f"imq_{m}": scores["imq"][m] for m in IMQ_METRICS}, "rq": scores["rq"]}
    return to_report_units(result.errors[report.regions[-1]])


def _badness(report: EvalReport, result: ImageResult) -> float:
    """Larger is worse: SAD over the last region, or for instances 100 - IMQ (MAD)."""
    values = _values(report, result)
    value = 100.0 - values["imq_mad"] if report.instances else values["sad"]
    return -math.inf if math.isnan(value) else value


def _number(value: float) -> str:
    return "NaN" if math.isnan(value) else repr(float(value))


def _image_table(report: EvalReport, ranked: list[ImageResult]) -> str:
    columns = _columns(report)
    head = '<th data-key="rank" data-first="asc">#</th>'
    head += '<th data-key="path" data-first="asc">image</th>'
    head += "".join(
        f'<th data-key="{k}" data-first="{first}">{escape(h)}</th>' for k, h, first in columns
    )
    rows = []
    for rank, result in enumerate(ranked, 1):
        values = _values(report, result)
        data = "".join(f' data-{k}="{_number(values[k])}"' for k, _, _ in columns)
        cells = "".join(f"<td>{escape(fmt(values[k]))}</td>" for k, _, _ in columns)
        link = f'<a href="#img{rank}">{escape(result.path)}</a>'
        rows.append(
            f'<tr data-rank="{rank}" data-path="{escape(result.path)}"{data}>'
            f'<td>{rank}</td><td class="path">{link}</td>{cells}</tr>'
        )
    return (
        f'<table id="images"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'
    )


def _metrics_table(report: EvalReport, result: ImageResult) -> str:
    if report.instances:
        scores = result.instances.scores()
        header = ["", *(f"IMQ {METRICS[m].label}" for m in IMQ_METRICS), "RQ", "TP", "FP", "FN"]
        row = ["instances", *(fmt(scores["imq"][m]) for m in IMQ_METRICS), fmt(scores["rq"])]
        row += [str(scores[k]) for k in ("tp", "fp", "fn")]
        return _table(header, [row])
    rows = []
    for region in report.regions:
        values = to_report_units(result.errors[region])
        rows.append([region_label(report, region), *(fmt(values[m]) for m in METRICS)])
    return _table(["region", *(m.header for m in METRICS.values())], rows)


def _img(kind: str, data: bytes, css: str = "") -> str:
    source = f"data:{_MIME.get(kind, 'image/png')};base64,{base64.b64encode(data).decode('ascii')}"
    return f'<img alt="{kind}" class="{css}" src="{source}">'


def _thumbs(result: ImageResult, bar: str) -> str:
    if not result.thumbnails:
        return ""
    figures = [
        f"<figure>{_img(key, data)}<figcaption>{_CAPTIONS[key]}</figcaption></figure>"
        for key in ("image", "gt", "pred")
        if (data := result.thumbnails.get(key)) is not None
    ]
    top = fmt(result.max_error) if result.max_error is not None else "max"
    legend = f'{bar}<div class="bar"><span>0</span><span>{escape(top)}</span></div>'
    caption = "|pred - GT| (0..1, square-root colour scale)"
    heat = _img("error", result.thumbnails["error"])
    figures.append(f"<figure>{heat}{legend}<figcaption>{caption}</figcaption></figure>")
    return f'<div class="thumbs">{"".join(figures)}</div>'


def _settings(report: EvalReport) -> list[list[str]]:
    """The run's settings as (name, value) rows: roots, region, and the manifest's engine."""
    rows = [["ground truth", report.gt_root], ["predictions", report.pred_root]]
    rows.append(["mode", "instances (IMQ)" if report.instances else "alpha mattes"])
    rows += [["region", region_label(report, region)] for region in report.regions[1:]]
    manifest = report.manifest
    if manifest is not None:
        rows.append(["manifest", str(manifest.path)])
        rows += [[f"engine {key}", str(value)] for key, value in manifest.engine.items()]
        rows.append(["settings", ", ".join(manifest.settings) or "n/a"])
    return rows


def html_report(report: EvalReport) -> str:
    """The whole report as one HTML page."""
    header, rows = summary_rows(report)
    ranked = sorted(report.evaluated, key=lambda r: _badness(report, r), reverse=True)
    bar = _img("colour bar", colour_bar(), "bar-img")
    parts = [
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">',
        f"<title>mam eval: {escape(headline(report))}</title><style>{STYLE}</style></head><body>",
        f"<h1>mam eval</h1><p>{escape(headline(report))}</p>",
        f'<p class="hint">{escape(report.hint)}</p>' if report.hint else "",
        "<h2>Run</h2>",
        _table(["setting", "value"], _settings(report), "settings"),
        "<h2>Summary</h2>",
        _table(header, rows),
        _list("Errors", [f"{r.path}: {r.error}" for r in report.failed], "error"),
        _list("Missing predictions", report.missing),
        _list("Extra predictions (no ground truth)", report.extra),
        _list("Warnings", [f"{r.path}: {r.warning}" for r in report.images if r.warning]),
        _list("Notes", note_lines(report)),
        "<h2>Images (click a column to sort; worst first)</h2>",
        _image_table(report, ranked),
    ]
    if ranked and not any(r.thumbnails for r in ranked):
        parts.append("<p>No thumbnails were collected (evaluate(..., thumbnails=True)).</p>")
    for rank, result in enumerate(ranked, 1):
        parts.append(
            f'<div class="card" id="img{rank}"><h3>{rank}. {escape(result.path)}</h3>'
            f"{_metrics_table(report, result)}{_thumbs(result, bar)}</div>"
        )
    parts.append(f"<script>{SCRIPT}</script></body></html>")
    return "\n".join(parts)
