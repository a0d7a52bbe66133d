"""`mam eval` faults, run as a real process on real files: colour and RGBA predictions,
swapped folders, sizes, 16-bit, non-image files, missing predictions and header bombs."""

from __future__ import annotations

import json
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import cv2
import numpy as np

from mamcli.eval.config import EvalConfig
from mamcli.eval.evaluate import evaluate
from mamcli.eval.metrics import matting_errors, to_report_units
from mamcli.eval.report import report_json

H, W = 20, 28


def blob(shift: int) -> np.ndarray:
    alpha = np.zeros((H, W), np.uint8)
    cv2.circle(alpha, (W // 2 + shift, H // 2), 6, 255, -1)
    return cv2.GaussianBlur(alpha, (5, 5), 1.5)


def write(path: Path, image: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), image)
    return path


def mam_eval(*args: str | Path) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "mamcli", "eval", *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


def gt_folder(root: Path, names: list[str]) -> dict[str, np.ndarray]:
    gts = {name: blob(i) for i, name in enumerate(names)}
    for name, alpha in gts.items():
        write(root / "gt" / f"{name}.png", alpha)
    return gts


def png_with_header(width: int, height: int) -> bytes:
    """A PNG whose header announces width x height grey pixels (the data is one row)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\0" * (width + 1))
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    )


def test_colour_prediction_refused_rgba_alpha_used_once(tmp_path):
    gts = gt_folder(tmp_path, ["a", "b", "c", "d"])
    photo = np.dstack([gts["a"], 255 - gts["a"], np.full((H, W), 90, np.uint8)])
    write(tmp_path / "pred" / "a.png", photo)
    for name in ("b", "c"):  # cut-outs: colour + the matte in the alpha channel
        rgba = np.dstack([photo, np.roll(gts[name], 2, axis=1)])
        write(tmp_path / "pred" / f"{name}.png", rgba)
    grey_rgb = np.repeat(np.roll(gts["d"], 1, axis=0)[..., None], 3, axis=2)
    write(tmp_path / "pred" / "d.png", grey_rgb)
    out = tmp_path / "r.json"
    result = mam_eval("--gt", tmp_path / "gt", "--pred", tmp_path / "pred", "--json", out)
    assert result.returncode == 1, result.stderr
    assert "a.png: looks like a colour photo, not an alpha matte" in result.stdout
    notes = [line for line in result.stderr.splitlines() if "alpha channel" in line]
    assert notes == [
        "mam: note: alpha channel used as the matte (an RGBA or grey+alpha file): "
        "2 files (b.png, c.png)"
    ]
    doc = json.loads(out.read_text())
    assert sorted(doc["images"]) == ["b.png", "c.png", "d.png"]
    expected = matting_errors(np.roll(gts["b"], 2, axis=1), gts["b"], {"whole": None})
    assert doc["images"]["b.png"]["whole"] == to_report_units(expected["whole"])
    assert doc["hint"] is None and "Traceback" not in result.stderr


def test_swapped_folders_get_a_hint(tmp_path):
    gts = gt_folder(tmp_path, ["a", "b"])
    matte_out = tmp_path / "out"
    for name, alpha in gts.items():
        write(matte_out / "alpha" / f"{name}.png", alpha)
    (matte_out / "manifest.jsonl").write_text('{"input": "x.png", "rel": "a.png"}\n')
    swapped = mam_eval("--gt", matte_out, "--pred", tmp_path / "gt")
    assert swapped.returncode == 1
    assert "looks like a `mam matte` output; did you swap --gt and --pred?" in swapped.stderr
    right = mam_eval("--gt", tmp_path / "gt", "--pred", matte_out)
    assert right.returncode == 0, right.stderr
    assert "swap" not in right.stderr + right.stdout


def test_colour_photos_as_predictions_get_a_hint(tmp_path):
    gts = gt_folder(tmp_path, ["a", "b"])
    for name, alpha in gts.items():
        photo = np.dstack([alpha, np.full((H, W), 30, np.uint8), 255 - alpha])
        write(tmp_path / "photos" / f"{name}.jpg", photo)
    result = mam_eval("--gt", tmp_path / "gt", "--pred", tmp_path / "photos")
    assert result.returncode == 1
    assert "predictions are colour photos" in result.stderr and "did you swap" in result.stderr


def test_many_more_gt_than_predictions_unmatched_gets_a_hint(tmp_path):
    gt_folder(tmp_path, ["a", "b", "c", "d"])
    write(tmp_path / "pred" / "other.png", blob(0))
    report = evaluate(EvalConfig(tmp_path / "gt", tmp_path / "pred", workers=1))
    assert report.hint.endswith("did you swap --gt and --pred?")
    assert "4 images, the predictions only 1" in report.hint
    assert report_json(report)["hint"] == report.hint


def test_prediction_names_in_another_folder_get_a_hint(tmp_path):
    gts = gt_folder(tmp_path, ["set1/a", "set1/b"])
    for name in ("a", "b"):
        write(tmp_path / "pred" / "deep" / f"{name}.png", gts[f"set1/{name}"])
    report = evaluate(EvalConfig(tmp_path / "gt", tmp_path / "pred", workers=1))
    assert report.hint == (
        "no prediction matched: prediction deep/a has the name of ground truth set1/a in "
        "another folder; did you swap --gt and --pred?"
    )


def test_sizes_16_bit_non_image_and_missing_each_one_line(tmp_path):
    gts = gt_folder(tmp_path, ["a", "b", "c", "d"])
    pred = tmp_path / "pred"
    write(pred / "a.png", gts["a"].astype(np.uint16) * 257)  # 16-bit: scaled back exactly
    write(pred / "b.png", cv2.resize(gts["b"], (W // 2, H // 2)))
    (pred / "c.txt").write_text("not an image\n")
    out = tmp_path / "r.json"
    result = mam_eval("--gt", tmp_path / "gt", "--pred", pred, "--json", out)
    assert result.returncode == 1
    doc = json.loads(out.read_text())
    assert doc["images"]["a.png"]["whole"]["sad"] == 0.0
    errors = {e["path"]: e["error"] for e in doc["errors"]}
    assert set(errors) == {"b.png", "c.png"}
    assert errors["b.png"].endswith(
        "size 14x10 differs from the ground truth 28x20 (use --resize to resize predictions)"
    )
    assert "c.txt: not an image file" in errors["c.png"]
    assert doc["missing"] == ["d.png"]
    resized = mam_eval("--gt", tmp_path / "gt", "--pred", pred, "--resize", "--json", out)
    assert resized.returncode == 1  # c and d are still not evaluated
    assert sorted(json.loads(out.read_text())["images"]) == ["a.png", "b.png"]


def test_bad_folder_is_a_usage_error_in_one_line(tmp_path):
    result = mam_eval("--gt", tmp_path / "nowhere", "--pred", tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"mam: error: {tmp_path / 'nowhere'}: ground-truth folder not found"
    ]


def test_decompression_bomb_header_is_one_line(tmp_path):
    gt_folder(tmp_path, ["a"])
    bomb = tmp_path / "pred" / "a.png"
    bomb.parent.mkdir()
    bomb.write_bytes(png_with_header(60_000, 60_000))
    out = tmp_path / "r.json"
    result = mam_eval("--gt", tmp_path / "gt", "--pred", bomb.parent, "--json", out)
    assert result.returncode == 1
    [error] = json.loads(out.read_text())["errors"]
    assert error["error"] == (
        f"{bomb}: image is 60000 x 60000 = 3600000000 pixels, over the --max-pixels limit 178956970"
    )
    assert "cv2" not in result.stderr + result.stdout and "Traceback" not in result.stderr
