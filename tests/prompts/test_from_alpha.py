"""`mam prompts from-alpha`: box and point prompts derived from GT alphas."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from mamcli.errors import MamError
from mamcli.prompts.config import FromAlphaConfig
from mamcli.prompts.from_alpha import box_from_alpha, instance_prompt, prompts_from_alpha


def write(path: Path, image: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), image)


def test_box_is_inclusive_tight_box_of_alpha_above_127():
    alpha = np.zeros((8, 9), np.uint8)
    alpha[0, 0] = 127  # not > 127: left out
    alpha[2, 3] = 128
    alpha[5, 1] = 200
    alpha[7, 8] = 100
    assert box_from_alpha(alpha) == [1, 2, 3, 5]
    assert box_from_alpha(np.full((3, 3), 127, np.uint8)) is None


def test_point_is_the_box_centre():
    assert instance_prompt("0", [1, 2, 3, 5], point=True) == {
        "id": "0",
        "points": [[2.0, 3.5]],
        "labels": [1],
    }
    assert instance_prompt("7", [1, 2, 3, 5], point=False) == {"id": "7", "box": [1, 2, 3, 5]}


def test_single_and_instance_layouts(tmp_path):
    a = np.zeros((10, 12), np.uint8)
    a[3:6, 4:9] = 255
    write(tmp_path / "gt" / "a.png", a)
    write(tmp_path / "gt" / "sub" / "b.png", (a.astype(np.uint16) * 257)[::-1].copy())
    result = prompts_from_alpha(FromAlphaConfig(tmp_path / "gt", workers=1))
    assert result.prompts == {
        "a.png": [{"id": "0", "box": [4, 3, 8, 5]}],
        "sub/b.png": [{"id": "0", "box": [4, 4, 8, 6]}],
    }
    write(tmp_path / "inst" / "img1" / "person.png", a)
    write(tmp_path / "inst" / "img1" / "dog.png", a[:, ::-1].copy())
    result = prompts_from_alpha(
        FromAlphaConfig(tmp_path / "inst", instances=True, point=True, workers=1)
    )
    assert result.prompts == {
        "img1": [
            {"id": "dog", "points": [[5.0, 4.0]], "labels": [1]},
            {"id": "person", "points": [[6.0, 4.0]], "labels": [1]},
        ]
    }
    write(tmp_path / "images" / "img1.jpg", np.zeros((10, 12, 3), np.uint8))
    keyed = prompts_from_alpha(
        FromAlphaConfig(tmp_path / "inst", instances=True, images=tmp_path / "images")
    )
    assert list(keyed.prompts) == ["img1.jpg"]
    with pytest.raises(MamError, match="folder not found"):
        prompts_from_alpha(FromAlphaConfig(tmp_path / "nope"))


def test_cli_writes_prompt_file_and_reports_empty_and_bad_files(tmp_path):
    a = np.zeros((6, 6), np.uint8)
    a[1:3, 2:5] = 255
    write(tmp_path / "gt" / "a.png", a)
    write(tmp_path / "gt" / "empty.png", np.zeros((6, 6), np.uint8))
    (tmp_path / "gt" / "broken.png").write_bytes(b"nope")
    out = tmp_path / "boxes.json"
    command = [sys.executable, "-m", "mamcli", "prompts", "from-alpha", str(tmp_path / "gt")]
    result = subprocess.run(
        [*command, "-o", str(out), "--workers", "2"], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 1, result.stderr
    assert "empty.png: no pixel with alpha > 127" in result.stderr
    assert "broken.png: not an image file" in result.stderr
    assert json.loads(out.read_text()) == {
        "a.png": [{"id": "0", "box": [2, 1, 4, 2]}],
        "empty.png": [],
    }


def test_images_folder_gives_the_images_keys(tmp_path):
    a = np.zeros((6, 6), np.uint8)
    a[1:3, 2:5] = 255
    write(tmp_path / "gt" / "sub" / "a.png", a)
    write(tmp_path / "gt" / "b.png", a)
    write(tmp_path / "images" / "sub" / "a.jpg", np.zeros((6, 6, 3), np.uint8))
    result = prompts_from_alpha(
        FromAlphaConfig(tmp_path / "gt", images=tmp_path / "images", workers=1)
    )
    assert result.prompts == {"sub/a.jpg": [{"id": "0", "box": [2, 1, 4, 2]}]}
    assert len(result.errors) == 1 and "b.png: no image with this name" in result.errors[0]


def test_protocol_round_trip_prompts_matte_eval(tmp_path):
    # prompts from GT -> `mam matte --boxes` (weight-free engine) -> `mam eval`: the keys
    # written with --images must be found by matte, and its outputs by eval.
    for i in range(2):
        alpha = np.zeros((48, 64), np.uint8)
        cv2.circle(alpha, (30 + 4 * i, 24), 12, 255, -1)
        image = np.full((48, 64, 3), 30, np.uint8)
        image[alpha > 127] = (200, 180, 160)
        write(tmp_path / "gt" / f"im{i}.png", cv2.GaussianBlur(alpha, (5, 5), 1.5))
        write(tmp_path / "img" / f"im{i}.jpg", image)

    def mam(*args: str) -> subprocess.CompletedProcess:
        command = [sys.executable, "-m", "mamcli", *args]
        return subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=tmp_path)

    made = mam("prompts", "from-alpha", "gt", "--images", "img", "-o", "boxes.json")
    assert made.returncode == 0, made.stderr
    assert sorted(json.loads((tmp_path / "boxes.json").read_text())) == ["im0.jpg", "im1.jpg"]
    matted = mam(
        *("matte", "img", "--boxes", "boxes.json", "--engine", "classic"),
        *("--auto", "none", "--outputs", "alpha", "-o", "out"),
    )
    assert matted.returncode == 0, matted.stdout + matted.stderr
    evaluated = mam("eval", "--gt", "gt", "--pred", "out", "--json", "-", "--workers", "1")
    assert evaluated.returncode == 0, evaluated.stderr
    doc = json.loads(evaluated.stdout)
    assert sorted(doc["images"]) == ["im0.png", "im1.png"] and doc["missing"] == []
    assert doc["mean"]["whole"]["mad"] < 100  # the cut-out follows the prompted disc
