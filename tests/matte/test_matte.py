"""`mam matte` end to end on real files, with small random SAM/M2M checkpoint files."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from mamcli.cli import app
from mamcli.model.m2m import converge_spectral_norms
from tests.helpers import make_random_m2m, synthetic_photo

runner = CliRunner()
GOOD = ["plain.jpg", "rotated.jpg", "deep.png", "cmyk.jpg", "grey.png", "fête d'été.png"]
BAD = ["truncated.jpg", "empty.jpg", "text.png"]


def _photo_folder(root: Path) -> Path:
    """Good and bad inputs of every awkward kind, with a prompt file keyed by name."""
    folder = root / "photos"
    folder.mkdir()
    rgb = synthetic_photo(120, 160)
    Image.fromarray(rgb).save(folder / "plain.jpg", quality=95)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise when displayed
    Image.fromarray(rgb).save(folder / "rotated.jpg", exif=exif.tobytes())
    deep = (rgb[..., 0].astype(np.uint16) * 257).astype(np.uint16)
    cv2.imwrite(str(folder / "deep.png"), deep)
    Image.fromarray(rgb).convert("CMYK").save(folder / "cmyk.jpg")
    Image.fromarray(rgb).convert("L").save(folder / "grey.png")
    Image.fromarray(rgb).save(folder / "fête d'été.png")
    data = (folder / "plain.jpg").read_bytes()
    (folder / "truncated.jpg").write_bytes(data[: len(data) // 3])
    (folder / "empty.jpg").write_bytes(b"")
    (folder / "text.png").write_text("not an image at all")
    boxes = {name: [[30, 20, 130, 100]] for name in GOOD + BAD}
    boxes["rotated.jpg"] = [[20, 30, 100, 130]]  # in displayed (rotated) pixels
    (root / "boxes.json").write_text(json.dumps(boxes))
    return folder


def _photos_with_boxes(root: Path, names: list[str], boxes: dict) -> tuple[Path, Path]:
    """root/photos/<name> synthetic photos (300 x 400, one seed each) and root/boxes.json."""
    folder = root / "photos"
    folder.mkdir()
    for seed, name in enumerate(names):
        Image.fromarray(synthetic_photo(300, 400, seed=seed)).save(folder / name)
    (root / "boxes.json").write_text(json.dumps(boxes))
    return folder, root / "boxes.json"


def _matte(args: list[str]):
    return runner.invoke(app, ["matte", *args], catch_exceptions=False)


@pytest.fixture()
def mam_args(tiny_sam_checkpoint: Path, m2m_checkpoint: Path) -> list[str]:
    return [
        "--engine", "mam", "--model", "vit_b", "--device", "cpu", "--precision", "fp32",
        "--sam-checkpoint", str(tiny_sam_checkpoint), "--m2m-checkpoint", str(m2m_checkpoint),
    ]  # fmt: skip


def _manifest(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]


def test_awkward_folder_then_resume(tmp_path: Path, mam_args: list[str]) -> None:
    folder = _photo_folder(tmp_path)
    out = tmp_path / "out"
    args = [str(folder), "-o", str(out), "--boxes", str(tmp_path / "boxes.json"), *mam_args]
    result = _matte([*args, "--outputs", "alpha,mask", "--json"])
    assert result.exit_code == 1, result.output
    records = {Path(r["input"]).name: r for r in _manifest(out)}
    assert set(records) == set(GOOD + BAD)
    for name in GOOD:
        assert records[name]["status"] == "ok", records[name]["error"]
        alpha = cv2.imread(str(out / "alpha" / f"{Path(name).stem}.png"), cv2.IMREAD_UNCHANGED)
        expected = (160, 120) if name == "rotated.jpg" else (120, 160)
        assert alpha.shape == expected and alpha.dtype == np.uint8
        assert records[name]["engine"]["engine"] == "mam"
        assert "encode" in records[name]["timings"]
    for name in BAD:
        error = records[name]["error"]
        assert records[name]["status"] == "failed" and name in error and "\n" not in error
    summary = json.loads(result.stdout[result.stdout.index("{") :])
    assert sorted(Path(f["input"]).name for f in summary["failed"]) == sorted(BAD)
    assert not list(out.rglob("*.part"))

    written = {p: p.stat().st_mtime_ns for p in (out / "alpha").rglob("*.png")}
    again = _matte([*args, "--outputs", "alpha,mask"])
    assert again.exit_code == 1
    records = {Path(r["input"]).name: r for r in _manifest(out)}
    assert all(records[name]["status"] == "cached" for name in GOOD)
    assert {p: p.stat().st_mtime_ns for p in written} == written  # no model work, no rewrite

    for name in BAD:
        (folder / name).unlink()
    assert _matte([*args, "--outputs", "alpha,mask"]).exit_code == 0
    changed = _matte([*args, "--outputs", "alpha,mask", "--refine", "maskguide"])
    assert changed.exit_code == 0
    assert all(r["status"] == "ok" for r in _manifest(out))  # new settings: redone


def test_instances_cutouts_and_composites(tmp_path: Path, mam_args: list[str]) -> None:
    folder = tmp_path / "in" / "sub"
    folder.mkdir(parents=True)
    Image.fromarray(synthetic_photo(90, 120)).save(folder / "a.png")
    prompt = {
        "instances": [
            {"id": "left", "box": [5, 5, 60, 80]},
            {"id": "right", "box": [60, 5, 115, 80]},
        ]
    }
    (folder / "a.json").write_text(json.dumps(prompt))
    out = tmp_path / "out"
    args = [str(tmp_path / "in"), "-o", str(out), *mam_args, "--outputs", "alpha,cutout,composite"]
    result = _matte(
        [*args, "--background", "#00ff00", "--composite-format", "png", "--crop-to-subject"]
    )
    assert result.exit_code == 0, result.output
    merged = cv2.imread(str(out / "alpha/sub/a.png"), cv2.IMREAD_UNCHANGED).astype(int)
    left = cv2.imread(str(out / "alpha/sub/a/left.png"), cv2.IMREAD_UNCHANGED).astype(int)
    right = cv2.imread(str(out / "alpha/sub/a/right.png"), cv2.IMREAD_UNCHANGED).astype(int)
    assert np.abs(merged - np.minimum(left + right, 255)).max() <= 1
    cutout = cv2.imread(str(out / "cutout/sub/a.png"), cv2.IMREAD_UNCHANGED)
    composite = cv2.imread(str(out / "composite/sub/a.png"), cv2.IMREAD_UNCHANGED)
    assert cutout.shape[2] == 4 and composite.shape[2] == 3
    assert cutout.shape[:2] == composite.shape[:2]
    record = _manifest(out)[0]
    assert record["prompt_source"].startswith("sidecar:")
    assert [p["id"] for p in record["prompts"]] == ["left", "right"]


def test_prompt_entries_that_match_no_image_are_reported(
    tmp_path: Path, mam_args: list[str]
) -> None:
    boxes = {"cat.jpg": [[5, 5, 50, 40]], "kat.jpg": [[1, 1, 9, 9]], "gone/dog.png": [[1, 1, 9, 9]]}
    folder, boxes_file = _photos_with_boxes(tmp_path, ["cat.jpg"], boxes)
    out = tmp_path / "out"
    args = [str(folder), "-o", str(out), "--boxes", str(boxes_file), *mam_args]
    result = _matte([*args, "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["ok"] == 1
    assert summary["unmatched_prompts"] == ["kat.jpg", "gone/dog.png"]
    assert "2 prompt-file entries match no input image: kat.jpg, gone/dog.png" in (
        " ".join(result.stderr.split())
    )


@pytest.mark.parametrize("key", ["../../etc/x.jpg", "ABSOLUTE"])
def test_prompt_keys_outside_the_root_are_rejected(
    tmp_path: Path, mam_args: list[str], key: str
) -> None:
    folder = tmp_path / "photos"
    folder.mkdir()
    Image.fromarray(synthetic_photo(60, 80)).save(folder / "x.jpg")
    key = str(tmp_path / "x.jpg") if key == "ABSOLUTE" else key
    evil = {key: [[1, 1, 20, 20]]}
    (tmp_path / "evil.json").write_text(json.dumps(evil))
    out = tmp_path / "out"
    before = set(tmp_path.rglob("*"))
    result = _matte(
        [str(folder), "-o", str(out), "--boxes", str(tmp_path / "evil.json"), *mam_args]
    )
    assert result.exit_code == 2
    assert key in result.output.replace("\n", "") and "outside" in result.output
    assert {p for p in tmp_path.rglob("*") if p not in before and out not in p.parents} == set()


def test_two_torchrun_workers_match_one_process(tmp_path: Path, mam_args: list[str]) -> None:
    folder = tmp_path / "photos"
    folder.mkdir()
    boxes = {}
    for i in range(5):
        Image.fromarray(synthetic_photo(70 + 10 * i, 90, seed=i)).save(folder / f"img{i}.png")
        boxes[f"img{i}.png"] = [[10, 10, 80, 60]]
    (tmp_path / "boxes.json").write_text(json.dumps(boxes))
    common = ["--boxes", str(tmp_path / "boxes.json"), *mam_args, "--outputs", "alpha,mask"]
    assert _matte([str(folder), "-o", str(tmp_path / "one"), *common]).exit_code == 0
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [
        sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2",
        "--standalone", "-m", "mamcli", "matte", str(folder), "-o", str(tmp_path / "two"),
        *common,
    ]  # fmt: skip
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    one = sorted(p.relative_to(tmp_path / "one") for p in (tmp_path / "one").rglob("*.png"))
    two = sorted(p.relative_to(tmp_path / "two") for p in (tmp_path / "two").rglob("*.png"))
    assert one == two and len(one) == 10
    for rel in one:
        assert (tmp_path / "one" / rel).read_bytes() == (tmp_path / "two" / rel).read_bytes()
    manifest = _manifest(tmp_path / "two")
    assert sorted(r["rel"] for r in manifest) == [f"img{i}.png" for i in range(5)]
    assert not list((tmp_path / "two").glob("manifest.rank*.jsonl"))


def test_ctrl_c_keeps_finished_images_and_the_rerun_resumes(
    tmp_path: Path, mam_args: list[str]
) -> None:
    count, paused_after = 6, 2
    names = [f"img{i:02d}.png" for i in range(count)]
    boxes = {name: [[40, 30, 360, 270]] for name in names}
    folder, boxes_file = _photos_with_boxes(tmp_path, names, boxes)
    out = tmp_path / "out"
    command = [
        sys.executable, "-m", "mamcli", "matte", str(folder), "-o", str(out),
        "--boxes", str(boxes_file), *mam_args,
    ]  # fmt: skip
    env = {**os.environ, "MAM_TEST_PAUSE_AFTER": str(paused_after)}
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    assert process.stderr is not None
    for line in process.stderr:  # synchronise on the run's own line, never on a clock
        if line.startswith(f"mam: test pause after {paused_after} images"):
            break
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr[-2000:]
    assert "interrupted" in stderr and "Traceback" not in stderr
    records = out / ".mam" / "records"
    done = sorted(p.stem for p in records.iterdir())
    assert len(done) == paused_after
    assert not [p for p in out.rglob("*") if p.name.endswith(".part")]  # no half-written file
    for stem in done:  # the finished images' outputs are whole
        assert cv2.imread(str(out / "alpha" / f"{stem}.png"), cv2.IMREAD_UNCHANGED) is not None
    rerun = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    statuses = {record["rel"]: record["status"] for record in _manifest(out)}
    assert len(statuses) == count
    assert sorted(Path(rel).stem for rel, s in statuses.items() if s == "cached") == done
    assert list(statuses.values()).count("ok") == count - paused_after


def test_compile_flag_gives_the_same_alphas_and_keeps_the_cache(
    tmp_path: Path, mam_args: list[str]
) -> None:
    folder, boxes_file = _photos_with_boxes(tmp_path, ["a.png"], {"a.png": [[30, 20, 380, 280]]})
    # converged spectral norms: with random u, v the logits reach 1e7 and float rounding
    # differences between any two kernels flip pixels, compiled or not
    m2m = tmp_path / "m2m_converged.pth"
    torch.save(converge_spectral_norms(make_random_m2m()).state_dict(), m2m)
    args = [*mam_args[:-1], str(m2m)]  # mam_args ends with --m2m-checkpoint PATH
    common = ["--boxes", str(boxes_file), *args, "--outputs", "alpha"]
    eager, compiled = tmp_path / "eager", tmp_path / "compiled"
    assert _matte([str(folder), "-o", str(eager), *common]).exit_code == 0
    assert _matte([str(folder), "-o", str(compiled), *common, "--compile"]).exit_code == 0
    a = cv2.imread(str(eager / "alpha/a.png"), cv2.IMREAD_UNCHANGED).astype(int)
    b = cv2.imread(str(compiled / "alpha/a.png"), cv2.IMREAD_UNCHANGED).astype(int)
    assert np.abs(a - b).max() <= 1
    # a speed knob: the compiled run's results count as done for a plain rerun
    assert _matte([str(folder), "-o", str(compiled), *common]).exit_code == 0
    assert [r["status"] for r in _manifest(compiled)] == ["cached"]


def test_a_precision_this_cpu_only_emulates_is_announced(tmp_path: Path, mam_args: list[str]):
    """bf16 without native support (AVX2-only CPUs) runs, and says it will be slow; where the
    CPU has bf16 instructions there is no such line."""
    from mamcli.model.devices import emulated_precision

    folder, boxes = _photos_with_boxes(tmp_path, ["a.png"], {"a.png": [[40, 30, 200, 160]]})
    args = [a if a != "fp32" else "bf16" for a in mam_args]
    result = _matte([str(folder), "-o", str(tmp_path / "out"), "--boxes", str(boxes), *args])
    assert result.exit_code == 0, result.output
    announced = "has no native support on this CPU" in result.output
    assert announced == emulated_precision("bf16", torch.device("cpu"))
