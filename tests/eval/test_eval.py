"""`mam eval` on real files: matching, bad files, reports, instances and the CLI."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from mamcli.errors import InputError, MamError
from mamcli.eval.config import EvalConfig
from mamcli.eval.evaluate import evaluate
from mamcli.eval.imq import instance_counts
from mamcli.eval.metrics import matting_errors, to_report_units
from mamcli.eval.report import markdown_summary, report_json, write_reports
from mamcli.imaging.read import read_alpha
from mamcli.imaging.trimap import generate_trimap, unknown_region

H, W = 24, 32


def blob(shift: int = 0) -> np.ndarray:
    alpha = np.zeros((H, W), np.uint8)
    cv2.circle(alpha, (W // 2 + shift, H // 2), 7, 255, -1)
    return cv2.GaussianBlur(alpha, (5, 5), 1.5)


def noisy(alpha: np.ndarray, seed: int) -> np.ndarray:
    noise = np.random.default_rng(seed).integers(-40, 40, alpha.shape)
    return np.clip(alpha.astype(int) + noise, 0, 255).astype(np.uint8)


def write(path: Path, image: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), image)
    return path


@pytest.fixture
def dataset(tmp_path: Path) -> dict[str, object]:
    """GT a, sub/b, c (no prediction), d (prediction of another size), e (unreadable
    prediction); predictions in a `mam matte` root: sub/b is 16-bit in a per-image folder,
    zzz has no GT."""
    gt, out = tmp_path / "gt", tmp_path / "out"
    gts = {name: blob(i) for i, name in enumerate(["a", "sub/b", "c", "d", "e"])}
    for name, alpha in gts.items():
        write(gt / f"{name}.png", alpha)
    preds = {"a": noisy(gts["a"], 1), "sub/b": noisy(gts["sub/b"], 2)}
    write(out / "alpha" / "a.png", preds["a"])
    write(out / "alpha" / "sub" / "b" / "0.png", preds["sub/b"].astype(np.uint16) * 257)
    preds["d"] = noisy(cv2.resize(gts["d"], (W // 2, H // 2)), 3)
    write(out / "alpha" / "d.png", preds["d"])
    (out / "alpha" / "e.png").write_bytes(b"not a png")
    write(out / "alpha" / "zzz.png", preds["a"])
    write(tmp_path / "images" / "a.jpg", np.full((H, W, 3), 90, np.uint8))
    return {"gt": gt, "out": out, "gts": gts, "preds": preds, "root": tmp_path}


def test_matching_missing_extra_and_bad_files(dataset):
    report = evaluate(EvalConfig(dataset["gt"], dataset["out"], workers=1))
    assert report.pred_root.endswith("alpha")
    assert report.missing == ["c.png"]
    assert report.extra == ["zzz.png"]
    failed = {r.path: r.error for r in report.failed}
    assert set(failed) == {"d.png", "e.png"}
    assert "differs from the ground truth" in failed["d.png"] and "--resize" in failed["d.png"]
    assert "not an image file" in failed["e.png"]
    assert [r.path for r in report.evaluated] == ["a.png", "sub/b.png"]
    assert report.exit_code == 1


def test_values_and_mean_match_the_metrics(dataset):
    report = evaluate(
        EvalConfig(dataset["gt"], dataset["out"], trimap="generate", trimap_band=3, workers=1)
    )
    expected = []
    for name in ["a", "sub/b"]:
        gt, pred = dataset["gts"][name], dataset["preds"][name]
        region = unknown_region(generate_trimap(gt, 3))
        expected.append(matting_errors(pred, gt, {"whole": None, "trimap": region}))
    got = {r.path: r.errors for r in report.evaluated}
    assert got["a.png"] == expected[0] and got["sub/b.png"] == expected[1]
    mean = report.mean()
    for region in ("whole", "trimap"):
        pair = [to_report_units(e[region]) for e in expected]
        for metric in ("sad", "mse", "mad", "grad", "conn"):
            assert mean[region][metric] == pytest.approx((pair[0][metric] + pair[1][metric]) / 2)


def test_resize_evaluates_the_other_size(dataset):
    report = evaluate(EvalConfig(dataset["gt"], dataset["out"], resize=True, workers=1))
    assert [r.path for r in report.failed] == ["e.png"]
    assert "d.png" in [r.path for r in report.evaluated]


def test_per_instance_alphas_match_mam_matte_layout(tmp_path):
    # RefMatte-style GT: one alpha per instance, evaluated one by one. `mam matte` writes a
    # folder of instances beside the merged alpha, and a single instance as <image>.png.
    one, two, three = blob(0), blob(3), blob(-3)
    for name, alpha in [("img1/0", one), ("img1/1", two), ("img2/0", three)]:
        write(tmp_path / "gt" / f"{name}.png", alpha)
    preds = {"img1/0": noisy(one, 1), "img1/1": noisy(two, 2), "img2": noisy(three, 3)}
    for name, alpha in preds.items():
        write(tmp_path / "out" / "alpha" / f"{name}.png", alpha)
    write(tmp_path / "out" / "alpha" / "img1.png", np.maximum(one, two))
    report = evaluate(EvalConfig(tmp_path / "gt", tmp_path / "out", workers=1))
    assert report.missing == [] and report.extra == [] and report.failed == []
    got = {r.path: r.errors["whole"] for r in report.evaluated}
    assert got["img2/0.png"] == matting_errors(preds["img2"], three, {"w": None})["w"]
    assert got["img1/1.png"] == matting_errors(preds["img1/1"], two, {"w": None})["w"]


def test_given_trimap_region(dataset, tmp_path):
    trimap = np.zeros((H, W), np.uint8)
    trimap[5:15, 10:20] = 128
    write(tmp_path / "tri" / "a.png", trimap)
    report = evaluate(EvalConfig(dataset["gt"], dataset["out"], trimap=tmp_path / "tri", workers=1))
    by_path = {r.path: r for r in report.images}
    expected = matting_errors(dataset["preds"]["a"], dataset["gts"]["a"], {"t": trimap == 128})
    assert by_path["a.png"].errors["trimap"] == expected["t"]
    assert "no trimap" in by_path["sub/b.png"].error
    assert report_json(report)["trimap_source"] == "given"


def test_alpha_reading_16_bit_grey_rgb_and_rgba(tmp_path):
    values = np.array([[0, 257, 32896, 65535]], np.uint16)
    assert read_alpha(write(tmp_path / "a16.png", values)).tolist() == [[0, 1, 128, 255]]
    grey_rgb = np.full((2, 2, 3), 200, np.uint8)
    assert read_alpha(write(tmp_path / "rgb.png", grey_rgb)).tolist() == [[200, 200], [200, 200]]
    colour = grey_rgb.copy()
    colour[..., 2] = 10
    with pytest.raises(InputError, match="looks like a colour photo, not an alpha matte"):
        read_alpha(write(tmp_path / "colour.png", colour))
    rgba = np.zeros((2, 2, 4), np.uint8)
    rgba[..., 3] = 77
    assert read_alpha(write(tmp_path / "rgba.png", rgba)).tolist() == [[77, 77], [77, 77]]


def test_bad_roots_are_usage_errors(dataset, tmp_path):
    with pytest.raises(MamError, match="ground-truth folder not found"):
        evaluate(EvalConfig(tmp_path / "nope", dataset["out"]))
    (tmp_path / "empty").mkdir()
    with pytest.raises(MamError, match="no ground-truth alpha images"):
        evaluate(EvalConfig(tmp_path / "empty", dataset["out"]))
    with pytest.raises(MamError, match="not used with --instances"):
        evaluate(EvalConfig(dataset["gt"], dataset["out"], instances=True, trimap="generate"))


def test_reports_json_csv_markdown_html(dataset):
    report = evaluate(
        EvalConfig(
            dataset["gt"],
            dataset["out"],
            trimap="generate",
            images=dataset["root"] / "images",
            thumbnails=True,
            workers=1,
        )
    )
    out = dataset["root"] / "reports"
    written = write_reports(report, out)
    assert sorted(p.name for p in written) == ["eval.csv", "eval.html", "eval.json"]
    doc = json.loads((out / "eval.json").read_text())
    assert set(doc["units"]) == {"sad", "mse", "mad", "grad", "conn"}
    assert doc["trimap_source"] == "generated"
    assert doc["missing"] == ["c.png"] and doc["extra"] == ["zzz.png"]
    assert {e["path"] for e in doc["errors"]} == {"d.png", "e.png"}
    a = report.evaluated[0]
    assert doc["images"]["a.png"]["whole"]["sad"] == pytest.approx(a.errors["whole"]["sad"] / 1000)
    assert doc["images"]["a.png"]["trimap"]["mse"] == pytest.approx(a.errors["trimap"]["mse"] * 1e3)
    assert doc["mean"]["whole"]["mad"] == pytest.approx(report.mean()["whole"]["mad"])

    rows = list(csv.DictReader(io.StringIO((out / "eval.csv").read_text())))
    assert [(r["path"], r["status"]) for r in rows] == [
        ("a.png", "ok"),
        ("c.png", "missing"),
        ("d.png", "error"),
        ("e.png", "error"),
        ("sub/b.png", "ok"),
    ]
    assert float(rows[0]["trimap_generated_sad_div1000"]) == pytest.approx(
        a.errors["trimap"]["sad"] / 1000
    )

    markdown = markdown_summary(report)
    assert "| trimap unknown (generated) | 2 |" in markdown and "SAD (/1000)" in markdown

    html = (out / "eval.html").read_text()
    assert html.count('<img alt="gt"') == html.count('<img alt="pred"') == 2  # both images
    assert html.count("data:image/jpeg;base64,") == 3  # 2 heat maps, 1 image (only a.jpg)
    assert "http" not in html and "(generated)" in html
    worst = max(report.evaluated, key=lambda r: r.errors["trimap"]["sad"]).path
    assert html.index(f"1. {worst}") < html.index("2. ")


def make_instances(root: Path) -> dict[str, list[np.ndarray]]:
    """GT img1 (2 instances), img2 (1, no prediction) and img3 (1). Predictions as `mam
    matte` writes them: img1 as a folder of 3 instances (swapped order, one extra) beside
    its merged alpha, img3 as a single file; zzz has no GT."""
    left, right, extra = (np.zeros((H, W), np.uint8) for _ in range(3))
    left[:, :10], right[:, 12:22], extra[:4, 28:] = 255, 255, 255
    soft = left.copy()
    soft[0, 0] = 128
    for name, alpha in [("img1/L", left), ("img1/R", right), ("img2/x", left), ("img3/y", right)]:
        write(root / "gt" / f"{name}.png", alpha)
    preds = [right, soft, extra]
    for name, alpha in [("img1/0", right), ("img1/1", soft), ("img1/2", extra)]:
        write(root / "out" / "alpha" / f"{name}.png", alpha)
    write(root / "out" / "alpha" / "img1.png", np.max(preds, axis=0))
    write(root / "out" / "alpha" / "img3.png", soft)
    write(root / "out" / "alpha" / "zzz" / "0.png", soft)
    return {"gt": [left, right], "pred": preds, "img2": [left], "img3": ([soft], [right])}


def test_instances_imq_counts_missing_folders_unless_skipped(tmp_path):
    arrays = make_instances(tmp_path)
    report = evaluate(EvalConfig(tmp_path / "gt", tmp_path / "out", instances=True, workers=1))
    assert report.missing == ["img2"]
    assert report.extra == ["zzz/0.png"]
    evaluated = instance_counts(arrays["pred"], arrays["gt"]) + instance_counts(*arrays["img3"])
    expected = evaluated + instance_counts([], arrays["img2"])
    assert report.imq() == expected.scores()
    assert (expected.tp, expected.fp, expected.fn) == (2, 2, 2)
    assert report.exit_code == 1
    skipped = evaluate(
        EvalConfig(tmp_path / "gt", tmp_path / "out", instances=True, skip_missing=True, workers=1)
    )
    assert skipped.imq() == evaluated.scores()
    assert skipped.exit_code == 0
    doc = report_json(report)
    assert doc["instances"]["fn"] == 2 and doc["images"]["img1"]["gt"] == 2
    assert doc["images"]["img1"]["pred"] == 3 and doc["images"]["img3"]["pred"] == 1


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "mamcli", *args], capture_output=True, text=True, timeout=120
    )


def test_cli_eval_with_worker_processes(dataset):
    out = dataset["root"] / "r"
    result = run_cli(
        *("eval", "--gt", str(dataset["gt"]), "--pred", str(dataset["out"])),
        *("--trimap", "generate", "--workers", "2", "--json", str(out / "r.json")),
        *("--html", str(out / "r.html"), "--csv", str(out / "r.csv")),
    )
    assert result.returncode == 1, result.stderr
    assert "| whole image | 2 |" in result.stdout and "c.png" in result.stdout
    doc = json.loads((out / "r.json").read_text())
    in_process = report_json(
        evaluate(EvalConfig(dataset["gt"], dataset["out"], trimap="generate", workers=1))
    )
    assert doc["images"] == in_process["images"] and doc["mean"] == in_process["mean"]
    assert (out / "r.html").read_text().count('<img alt="error"') == 2


def test_cli_json_to_stdout_and_usage_error(dataset, tmp_path):
    result = run_cli(
        "eval", "--gt", str(dataset["gt"]), "--pred", str(dataset["out"]), "--json", "-"
    )
    assert result.returncode == 1
    assert json.loads(result.stdout)["missing"] == ["c.png"]
    bad = run_cli("eval", "--gt", str(tmp_path / "nope"), "--pred", str(dataset["out"]))
    assert bad.returncode == 2 and "ground-truth folder not found" in bad.stderr


def test_cli_help_explains_every_column():
    text = run_cli("eval", "--help").stdout
    for column in ("SAD (/1000)", "MSE (x1e3)", "MAD (x1e3)", "Grad (/1000)", "Conn (/1000)"):
        assert column in text
    assert "IMQ" in text and "RQ" in text and "MQ" in text
