"""A self-contained HTML report: the summary on top, then every image worst first with
thumbnails of the image, GT, prediction and an error heat map (embedded as base64)."""

from __future__ import annotations

import base64
import math
from html import escape
from typing import TYPE_CHECKING

from mamcli.eval.imq import IMQ_METRICS
from mamcli.eval.metrics import METRICS, to_report_units
from mamcli.eval.report.tables import HEADERS, fmt, headline, region_label, summary_rows

if TYPE_CHECKING:
    from mamcli.eval.evaluate import EvalReport, ImageResult

_STYLE = """
body{font-family:system-ui,sans-serif;margin:24px;color:#222;background:#fafafa}
table{border-collapse:collapse;margin:8px 0}
td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}
td:first-child,th:first-child{text-align:left}
.card{background:#fff;border:1px solid #ddd;border-radius:6px;padding:12px;margin:12px 0}
.thumbs{display:flex;gap:8px;flex-wrap:wrap}
figure{margin:0;text-align:center;font-size:12px;color:#555}
img{display:block;max-width:224px;max-height:224px;background:#888}
.error{color:#b00}
"""
_CAPTIONS = {
    "image": "image",
    "gt": "ground truth",
    "pred": "prediction",
    "error": "|pred - GT|, square-root scale (black 0, yellow 255)",
}
_MIME = {"image": "image/jpeg", "gt": "image/png", "pred": "image/png", "error": "image/jpeg"}


def _table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _list(title: str, items: list[str], css: str = "") -> str:
    if not items:
        return ""
    entries = "".join(f"<li>{escape(item)}</li>" for item in items)
    summary = f"<summary>{escape(title)} ({len(items)})</summary>"
    return f'<details open class="{css}">{summary}<ul>{entries}</ul></details>'


def _badness(report: EvalReport, result: ImageResult) -> float:
    """Larger is worse: SAD over the trimap region (else the whole image); for instances,
    100 - IMQ_mad of the image."""
    if report.instances:
        value = 100.0 - result.instances.scores()["imq"]["mad"]
    else:
        value = result.errors[report.regions[-1]]["sad"]
    return -math.inf if math.isnan(value) else value


def _metrics_table(report: EvalReport, result: ImageResult) -> str:
    if report.instances:
        scores = result.instances.scores()
        header = ["", *(f"IMQ {m}" for m in IMQ_METRICS), "RQ", "TP", "FP", "FN"]
        row = ["instances", *(fmt(scores["imq"][m]) for m in IMQ_METRICS), fmt(scores["rq"])]
        row += [str(scores[k]) for k in ("tp", "fp", "fn")]
        return _table(header, [row])
    rows = []
    for region in report.regions:
        values = to_report_units(result.errors[region])
        rows.append([region_label(report, region), *(fmt(values[m]) for m in METRICS)])
    return _table(["region", *(HEADERS[m] for m in METRICS)], rows)


def _thumbs(result: ImageResult) -> str:
    if not result.thumbnails:
        return ""
    figures = []
    for key in ("image", "gt", "pred", "error"):
        if key in result.thumbnails:
            data = base64.b64encode(result.thumbnails[key]).decode("ascii")
            figures.append(
                f'<figure><img alt="{key}" src="data:{_MIME[key]};base64,{data}">'
                f"<figcaption>{escape(_CAPTIONS[key])}</figcaption></figure>"
            )
    return f'<div class="thumbs">{"".join(figures)}</div>'


def html_report(report: EvalReport) -> str:
    """The whole report as one HTML page."""
    header, rows = summary_rows(report)
    ranked = sorted(report.evaluated, key=lambda r: _badness(report, r), reverse=True)
    order = "lowest IMQ (MAD) first" if report.instances else "largest SAD first"
    if not report.instances and report.trimap_source:
        order = f"largest SAD over the {region_label(report, 'trimap')} first"
    parts = [
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">',
        f"<title>mam eval: {escape(headline(report))}</title><style>{_STYLE}</style></head><body>",
        f"<h1>mam eval</h1><p>{escape(headline(report))}</p>",
        f"<p>Ground truth: <code>{escape(report.gt_root)}</code><br>",
        f"Predictions: <code>{escape(report.pred_root)}</code></p>",
        _table(header, rows),
        _list("Errors", [f"{r.path}: {r.error}" for r in report.failed], "error"),
        _list("Missing predictions", report.missing),
        _list("Extra predictions (no ground truth)", report.extra),
        _list("Warnings", [f"{r.path}: {r.warning}" for r in report.images if r.warning]),
        f"<h2>Images, {escape(order)}</h2>",
    ]
    if ranked and not any(r.thumbnails for r in ranked):
        parts.append("<p>No thumbnails were collected (evaluate(..., thumbnails=True)).</p>")
    for rank, result in enumerate(ranked, 1):
        parts.append(
            f'<div class="card"><h3>{rank}. {escape(result.path)}</h3>'
            f"{_metrics_table(report, result)}{_thumbs(result)}</div>"
        )
    parts.append("</body></html>")
    return "\n".join(parts)
