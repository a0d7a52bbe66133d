"""Usage errors answer before any heavy import: one line, exit 2, torch (and numpy,
OpenCV, Pillow) never loaded."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

SAMPLES = Path(__file__).resolve().parents[2] / "samples"
PROBE = """
import sys
HEAVY = ("torch", "torchvision", "transformers", "pymatting", "numpy", "cv2", "PIL")
from mamcli.cli import app
try:
    app(sys.argv[1:])
except SystemExit as exit:
    code = exit.code
heavy = [m for m in HEAVY if m in sys.modules]
print(f"exit={code} heavy={','.join(heavy) or '-'}")
"""


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["matte", "nosuchdir", "-o", "x"], "nosuchdir: no such file or folder"),
        (["matte", str(SAMPLES), "-o", "x", "--engine", "bogus"], "--engine: unknown value"),
        (["matte", str(SAMPLES), "-o", "x", "--engine", "sam"], "did you mean 'mam'?"),
        (["matte", str(SAMPLES), "-o", "x", "--auto", "everything"], "--auto: unknown value"),
        (["matte", str(SAMPLES), "-o", "x", "--outputs", "alpha,cutouts"], "'cutout'?"),
        (["matte", str(SAMPLES), "-o", "x", "--background", "#zzz"], "--background:"),
        (["matte", str(SAMPLES), "-o", "x", "--widths", "10,20"], "--widths: expected 3"),
        (["matte", str(SAMPLES), "-o", str(SAMPLES)], "-o is an input folder"),
    ],
)
def test_usage_errors_exit_2_before_torch(tmp_path: Path, args: list[str], message: str) -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *args], capture_output=True, text=True, cwd=tmp_path
    )
    assert done.stdout.strip().splitlines()[-1] == "exit=2 heavy=-", done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and message in lines[0], done.stderr
    assert not (tmp_path / "x").exists()


def test_output_that_is_a_file_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "out.png"
    target.write_bytes(b"keep me")
    done = subprocess.run(
        [sys.executable, "-c", PROBE, "matte", str(SAMPLES), "-o", str(target)],
        capture_output=True,
        text=True,
    )
    assert done.stdout.strip().endswith("exit=2 heavy=-")
    assert "-o must be a folder" in done.stderr
    assert target.read_bytes() == b"keep me"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["eval", "--gt", "gt", "--pred", ".", "--trimap-band", "0"], "--trimap-band: must be at"),
        (["eval", "--gt", "gt", "--pred", ".", "--workers", "0"], "--workers: must be at least 1"),
        (
            ["eval", "--gt", "gt", "--pred", ".", "--instances", "--trimap", "generate"],
            "--trimap is not used with --instances",
        ),
        (["eval", "--gt", "nosuchdir", "--pred", "."], "nosuchdir"),
        (["prompts", "from-alpha", "gt", "-o", "p.json", "--workers", "0"], "--workers: must be"),
    ],
)
def test_eval_and_prompts_flags_are_checked_from_their_configs(
    args: list[str], message: str
) -> None:
    """`mam eval` and `mam prompts` flags come from EvalConfig / FromAlphaConfig fields: a bad
    value is one line naming the flag, exit 2, nothing written."""
    done = subprocess.run(
        [sys.executable, "-m", "mamcli", *args], capture_output=True, text=True, cwd=SAMPLES
    )
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode == 2 and len(lines) == 1 and message in lines[0], done.stderr
    assert not (SAMPLES / "p.json").exists()
