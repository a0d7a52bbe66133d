"""The HTML report in a real headless Chromium: it renders, and its table sorts on a click.

The page sorts by the column named in its address (`#sort=sad-asc`) by clicking that
column's header, so `--dump-dom` shows the DOM after the very click handler a user runs.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

H, W = 40, 56
BROWSER = next(
    (path for name in ("chromium", "chromium-browser", "chromium-headless-shell")
     if (path := shutil.which(name))),
    None,
)  # fmt: skip
pytestmark = pytest.mark.skipif(
    BROWSER is None, reason="no chromium binary on PATH (apt-get install chromium)"
)


def write(path: Path, image: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), image)
    return path


def browser(*args: str) -> subprocess.CompletedProcess:
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars"]
    command = [BROWSER, *flags, *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """A `mam matte`-like output root (alpha/ + manifest.jsonl naming the photos) with three
    predictions of growing error, evaluated by the real CLI into an HTML and a JSON report."""
    root = tmp_path_factory.mktemp("browser")
    lines = []
    for i, name in enumerate(["kiwi", "apple", "mango"]):
        gt = np.zeros((H, W), np.uint8)
        cv2.ellipse(gt, (W // 2, H // 2), (14, 10), 0, 0, 360, 255, -1)
        gt = cv2.GaussianBlur(gt, (7, 7), 2)
        write(root / "gt" / f"{name}.png", gt)
        write(root / "out" / "alpha" / f"{name}.png", np.roll(gt, 2 * i + 1, axis=1))
        photo = write(root / "photos" / f"{name}.jpg", np.dstack([gt, 255 - gt, gt // 2]))
        engine = {"name": "classic", "device": "cpu"}
        record = {"input": str(photo), "rel": f"{name}.jpg", "engine": engine, "settings": "f00d"}
        lines.append(json.dumps(record))
    (root / "out" / "manifest.jsonl").write_text("\n".join(lines) + "\n")
    html, doc = root / "report.html", root / "report.json"
    command = [sys.executable, "-m", "mamcli", "eval", "--gt", str(root / "gt")]
    command += ["--pred", str(root / "out"), "--html", str(html), "--json", str(doc)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return {"html": html, "json": json.loads(doc.read_text()), "root": root}


def row_order(dom: str) -> list[str]:
    table = re.search(r'<table id="images".*?</table>', dom, re.S).group(0)
    return re.findall(r'<tr data-rank="\d+" data-path="([^"]+)"', table)


def dump_dom(html: Path, fragment: str = "") -> str:
    result = browser("--dump-dom", html.as_uri() + fragment)
    assert "<table" in result.stdout, result.stderr[-2000:]
    return result.stdout


def test_report_renders_non_blank(report, tmp_path):
    shot = tmp_path / "shot.png"
    result = browser(f"--screenshot={shot}", "--window-size=1200,1600", report["html"].as_uri())
    assert shot.is_file(), result.stderr[-2000:]
    pixels = cv2.imread(str(shot))
    assert pixels is not None and pixels.shape[:2] == (1600, 1200)
    assert pixels.reshape(-1, 3).astype(float).var(axis=0).sum() > 0


def test_table_sorts_by_clicked_column(report):
    sad = {path: values["whole"]["sad"] for path, values in report["json"]["images"].items()}
    worst_first = sorted(sad, key=sad.get, reverse=True)
    assert worst_first == ["mango.png", "apple.png", "kiwi.png"]  # growing shifts
    assert row_order(dump_dom(report["html"])) == worst_first
    assert row_order(dump_dom(report["html"], "#sort=sad-asc")) == worst_first[::-1]
    assert row_order(dump_dom(report["html"], "#sort=path-asc")) == sorted(sad)
    dom = dump_dom(report["html"], "#sort=sad-desc")
    assert row_order(dom) == worst_first and 'data-sorted="sad-desc"' in dom


def test_report_shows_manifest_settings_photos_and_colour_bar(report):
    html = report["html"].read_text()
    assert "engine name</td><td>classic" in html and "f00d" in html
    assert html.count('<img alt="image"') == 3  # the photos, found through the manifest
    assert html.count('<img alt="error"') == html.count('<img alt="colour bar"') == 3
    assert "http://" not in html and "https://" not in html  # self-contained
