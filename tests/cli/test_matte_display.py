"""`mam matte` as a user sees it: live lines, summaries, escaping, stdin/stdout, help.

Every test runs the real CLI in a child process on real image files (classic engine).
"""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from tests.helpers import synthetic_photo

ROOT = Path(__file__).resolve().parents[2]
BOX = [60, 35, 180, 145]  # around the disc of synthetic_photo(180, 240)


def _env() -> dict[str, str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT), COLUMNS="120")
    env.pop("FORCE_COLOR", None)
    return env


def _mam(*args: str, cwd: Path, stdin: bytes | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "mamcli", *args],
        cwd=cwd,
        env=_env(),
        input=stdin,
        capture_output=True,
    )


def _photos(folder: Path, names: list[str], boxes: bool = True) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for seed, name in enumerate(names):
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(synthetic_photo(seed=seed)).save(folder / name)
    if boxes:
        (folder / "boxes.json").write_text(json.dumps({name: [BOX] for name in names}))
    return folder


def test_progress_lines_stream_one_per_image_before_the_summary(tmp_path: Path) -> None:
    names = [f"p{i:02d}.png" for i in range(20)]
    photos = _photos(tmp_path / "photos", names)
    args = ["matte", str(photos), "-o", str(tmp_path / "out"), "--engine", "classic"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "mamcli", *args, "--outputs", "alpha,mask", "-v"],
        cwd=tmp_path,
        env=_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    events: list[str] = []
    summary_seen_at_first_image: bool | None = None
    for line in iter(proc.stderr.readline, ""):
        if re.match(r"\[\d+/20\] ok p\d\d\.png \d+\.\d\ds$", line.strip()):
            if summary_seen_at_first_image is None:
                summary_seen_at_first_image = "mam matte" in "".join(events)
            events.append("image")
        elif line.startswith("engine:"):
            events.append("engine")
        elif "mam matte" in line:
            events.append("summary")
    assert proc.wait() == 0
    assert events == ["engine", *["image"] * 20, "engine", "summary"]
    assert summary_seen_at_first_image is False


def test_boxes_file_beats_a_sidecar(tmp_path: Path) -> None:
    photos = _photos(tmp_path / "photos", ["a.png"], boxes=False)
    (photos / "a.json").write_text(json.dumps({"instances": [{"box": [0, 0, 20, 20]}]}))
    boxes = tmp_path / "boxes.json"
    boxes.write_text(json.dumps({"a.png": [BOX]}))
    out = tmp_path / "out"
    done = _mam("matte", str(photos), "-o", str(out), "--engine", "classic", "--boxes",
                str(boxes), "--outputs", "alpha", cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    record = json.loads((out / "manifest.jsonl").read_text().splitlines()[0])
    assert record["prompt_source"].startswith("boxes:")
    assert record["prompts"][0]["box"] == BOX
    assert "prompts from: boxes (1 image)" in done.stderr.decode()


def test_rich_markup_in_names_prints_literally(tmp_path: Path) -> None:
    names = ["[bold red]EVIL.png", "zz[/]x.png"]
    photos = _photos(tmp_path / "photos", names)
    (photos / "[bold red]bad.png").write_bytes(b"not an image")
    done = _mam("matte", str(photos), "-o", str(tmp_path / "out"), "--engine", "classic",
                "--outputs", "alpha", "-v", cwd=tmp_path)  # fmt: skip
    err = done.stderr.decode()
    assert done.returncode == 1, err
    assert "MarkupError" not in err and "Traceback" not in err
    assert "ok [bold red]EVIL.png" in err
    assert "ok zz[/]x.png" in err
    assert f"failed {photos / '[bold red]bad.png'}: not an image file" in err


def test_stdin_to_stdout_gives_a_png_of_the_input_size(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    Image.fromarray(synthetic_photo(150, 210, seed=3)).save(buffer, format="JPEG")
    done = _mam("matte", "-", "-o", "-", "--engine", "classic", cwd=tmp_path,
                stdin=buffer.getvalue())  # fmt: skip
    assert done.returncode == 0, done.stderr
    alpha = Image.open(io.BytesIO(done.stdout))
    assert alpha.format == "PNG" and alpha.size == (210, 150) and alpha.mode == "L"
    values = np.asarray(alpha)
    assert values.max() == 255 and values.min() == 0  # a subject was found, not a blank
    cut = _mam("matte", "-", "-o", "-", "--engine", "classic", "--outputs", "cutout", "-q",
               cwd=tmp_path, stdin=buffer.getvalue())  # fmt: skip
    assert cut.returncode == 0 and cut.stderr == b""
    assert Image.open(io.BytesIO(cut.stdout)).mode == "RGBA"
    assert list(tmp_path.iterdir()) == []  # nothing left behind


def test_stdout_needs_stdin_input(tmp_path: Path) -> None:
    photos = _photos(tmp_path / "photos", ["a.png"])
    done = _mam("matte", str(photos), "-o", "-", cwd=tmp_path)
    lines = done.stderr.decode().strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1 and "go together" in lines[0]
    assert done.stdout == b""


def test_json_names_the_engine_and_long_warnings_are_cut(tmp_path: Path) -> None:
    photos = _photos(tmp_path / "photos", ["a.png", "b.png"])
    extra = {f"missing{i}.png": [BOX] for i in range(1000)}
    (photos / "boxes.json").write_text(json.dumps({"a.png": [BOX], "b.png": [BOX], **extra}))
    done = _mam("matte", str(photos), "-o", str(tmp_path / "out"), "--engine", "classic",
                "--outputs", "alpha", "--json", cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["engine"] == "classic" and summary["engine_note"] == "asked for"
    assert summary["ok"] == 2 and summary["prompt_sources"] == {"boxes": 2}
    assert len(summary["unmatched_prompts"]) == 1000
    err = done.stderr.decode()
    warning = next(line for line in err.splitlines() if "match no input image" in line)
    assert warning.endswith("and 990 more") and len(warning) < 400
    assert "engine: classic (asked for)" in err
    again = _mam("matte", str(photos), "-o", str(tmp_path / "out"), "--engine", "classic",
                 "--outputs", "alpha", cwd=tmp_path)  # fmt: skip
    assert "cached = same settings, prompts and input as an earlier run" in again.stderr.decode()


def test_quiet_prints_only_errors(tmp_path: Path) -> None:
    photos = _photos(tmp_path / "photos", ["a.png", "b.png"])
    (photos / "broken.png").write_bytes(b"\x89PNG broken")
    done = _mam("matte", str(photos), "-o", str(tmp_path / "out"), "--engine", "classic",
                "--outputs", "alpha", "-q", cwd=tmp_path)  # fmt: skip
    lines = done.stderr.decode().strip().splitlines()
    assert done.returncode == 1
    assert len(lines) == 1 and lines[0].startswith("failed ") and "broken.png" in lines[0]
    assert (tmp_path / "out" / "alpha" / "a.png").exists()


def test_plain_lines_without_a_terminal(tmp_path: Path) -> None:
    photos = _photos(tmp_path / "photos", [f"p{i}.png" for i in range(10)])
    done = _mam("matte", str(photos), "-o", str(tmp_path / "out"), "--engine", "classic",
                "--outputs", "alpha", cwd=tmp_path)  # fmt: skip
    err = done.stderr.decode()
    assert done.returncode == 0, err
    counts = re.findall(r"^\[(\d+)/10\] images done, [\d.]+ img/s$", err, re.MULTILINE)
    assert counts == [str(n) for n in range(1, 11)]  # a line per 10%: one per image here
    assert "\x1b[" not in err  # no colours in a log


def test_help_has_no_type_labels_and_panels_in_order(tmp_path: Path) -> None:
    text = _mam("matte", "--help", cwd=tmp_path).stdout.decode()
    for label in ("<bool>", "<str>", "<int>", "<float>", "<list", "<path>"):
        assert label not in text
    panels = re.findall(r"╭─ (\w+) ", text)
    assert panels == ["Arguments", "Options", "Inputs", "Prompts", "Engine", "Outputs",
                      "Performance", "Run"]  # fmt: skip
    assert "auto|mam|classic" in text and "alpha,cutout,composite" in text
    assert "mam matte - -o -" in text
    root = _mam("--help", cwd=tmp_path).stdout.decode()
    assert "<bool>" not in root and "--install-completion" in root
