"""Faults a batch meets, each run in a real `mam matte` process, with the files on disk
checked afterwards: every PNG decodes, the manifest parses, the rerun's counts add up."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from mamcli.runtime.atomic import is_temp_name
from tests.helpers import synthetic_photo

ROOT = Path(__file__).resolve().parents[2]
CLASSIC = ["--engine", "classic", "--outputs", "alpha,mask"]
PAUSE = "mam: test pause after"


def _photos(folder: Path, names: list[str], size: tuple[int, int] = (60, 80)) -> Path:
    for seed, name in enumerate(names):
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(synthetic_photo(*size, seed=seed)).save(folder / name)
    return folder


def _mam(*args: str, **kwargs) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "mamcli", "matte", *args]
    return subprocess.run(command, capture_output=True, text=True, cwd=ROOT, **kwargs)


def _start(*args: str, pause_after: int) -> subprocess.Popen:
    """A run that stops after `pause_after` images; returns once it has printed so."""
    env = {**os.environ, "MAM_TEST_PAUSE_AFTER": str(pause_after)}
    command = [sys.executable, "-m", "mamcli", "matte", *args]
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT, env=env
    )
    assert process.stderr is not None
    for line in process.stderr:
        if line.startswith(PAUSE):
            return process
    process.wait()
    raise AssertionError(f"the run ended (exit {process.returncode}) without pausing")


def _manifest(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]


def _records(out: Path) -> list[Path]:
    return sorted((out / ".mam" / "records").rglob("*.json"))


def _whole_files(out: Path) -> None:
    """Nothing half-written: no temp files, every PNG decodes, every record parses."""
    assert not [p for p in out.rglob("*") if is_temp_name(p.name)]
    for png in (p for p in out.rglob("*.png") if p.is_file()):
        assert cv2.imread(str(png), cv2.IMREAD_UNCHANGED) is not None, png
    for record in _records(out):
        json.loads(record.read_text())


def _one_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert "Traceback" not in stderr, stderr
    assert len(lines) == 1, stderr
    return lines[0]


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGKILL])
def test_stopped_run_keeps_finished_images_and_the_rerun_does_the_rest(
    tmp_path: Path, stop: signal.Signals
) -> None:
    names = [f"img{i}.png" for i in range(5)]
    folder = _photos(tmp_path / "photos", names)
    out = tmp_path / "out"
    process = _start(str(folder), "-o", str(out), *CLASSIC, pause_after=2)
    process.send_signal(stop)
    _, stderr = process.communicate()
    if stop == signal.SIGINT:
        assert process.returncode == 130, stderr
        assert "interrupted after 2 of 5 images" in stderr and "Traceback" not in stderr
        assert not (out / ".mam" / "lock").exists()  # released on Ctrl-C
    else:
        assert process.returncode == -signal.SIGKILL
        assert (out / ".mam" / "lock").exists()  # left behind: the rerun takes it over
    _whole_files(out)
    done = [json.loads(p.read_text())["rel"] for p in _records(out)]
    assert len(done) == 2
    for rel in done:
        assert cv2.imread(str(out / "alpha" / rel), cv2.IMREAD_UNCHANGED).shape == (60, 80)
    stale = out / "alpha" / ".img4.png.abcd1234.part"  # what a killed writer leaves
    stale.write_bytes(b"half a png")
    rerun = _mam(str(folder), "-o", str(out), *CLASSIC)
    assert rerun.returncode == 0, rerun.stderr
    assert ("taking over the stale lock" in rerun.stderr) == (stop == signal.SIGKILL)
    assert not stale.exists()
    statuses = {r["rel"]: r["status"] for r in _manifest(out)}
    assert sorted(statuses) == names
    assert sorted(rel for rel, status in statuses.items() if status == "cached") == done
    assert list(statuses.values()).count("ok") == 3
    _whole_files(out)
    assert not (out / ".mam" / "lock").exists()


def test_a_live_lock_refuses_the_run_and_a_dead_one_is_taken_over(tmp_path: Path) -> None:
    folder = _photos(tmp_path / "photos", ["a.png"])
    out = tmp_path / "out"
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLD_LOCK, str(out / ".mam" / "lock")],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT,
    )  # fmt: skip
    assert holder.stdout is not None and holder.stdout.readline() == "held\n"
    busy = _mam(str(folder), "-o", str(out), *CLASSIC)
    holder.communicate("")  # let the holder release the lock and exit
    assert busy.returncode == 5, busy.stderr
    line = _one_line(busy.stderr)
    assert "in use by another mam run" in line and f"pid {holder.pid}" in line
    assert sorted(p.name for p in out.iterdir()) == [".mam"]  # nothing written
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    lock = out / ".mam" / "lock"
    lock.write_text(json.dumps({"pid": int(dead.stdout), "host": os.uname().nodename}))
    taken = _mam(str(folder), "-o", str(out), *CLASSIC)
    assert taken.returncode == 0, taken.stderr
    assert f"taking over the stale lock of pid {int(dead.stdout)}" in taken.stderr
    assert [r["status"] for r in _manifest(out)] == ["ok"] and not lock.exists()


_HOLD_LOCK = """
import sys
from pathlib import Path
from mamcli.runtime.lock import OutputLock
lock = OutputLock(Path(sys.argv[1]))
lock.acquire()
print("held", flush=True)
sys.stdin.read()
lock.release()
"""


@contextlib.contextmanager
def _tmpfs(where: Path, options: str) -> Iterator[Path]:
    where.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(where)])
    if mounted.returncode != 0:
        pytest.skip("mounting a tmpfs is not permitted here")
    try:
        yield where
    finally:
        subprocess.run(["umount", str(where)], check=True)


def test_a_full_disk_stops_the_run_with_every_listed_png_whole(tmp_path: Path) -> None:
    names = [f"img{i}.png" for i in range(8)]
    folder = _photos(tmp_path / "photos", names, size=(200, 260))
    with _tmpfs(tmp_path / "small", "size=40k") as out:
        first = _mam(str(folder), "-o", str(out), "--engine", "classic", "--outputs", "alpha")
        assert first.returncode == 3, first.stderr
        assert "No space left on device" in first.stderr and "Traceback" not in first.stderr
        _whole_files(out)
        written = [p for p in _records(out)]
        for record in map(json.loads, (p.read_text() for p in written)):
            assert record["status"] == "ok"
            alpha = cv2.imread(record["outputs"]["alpha"], cv2.IMREAD_UNCHANGED)
            assert alpha.shape == (200, 260)
        assert len(written) < len(names)


def test_a_read_only_output_folder_is_one_line_and_nothing_written(tmp_path: Path) -> None:
    folder = _photos(tmp_path / "photos", ["a.png", "b.png"])
    with _tmpfs(tmp_path / "ro", "size=1m,ro") as out:
        result = _mam(str(folder), "-o", str(out / "sub"), *CLASSIC)
        assert result.returncode == 3, result.stderr
        assert "Read-only file system" in _one_line(result.stderr)
        assert list(out.iterdir()) == []


def test_usage_errors_come_before_any_model_work(tmp_path: Path) -> None:
    folder = _photos(tmp_path / "photos", ["a.png"])
    (tmp_path / "file").write_text("a file")
    missing_model = ["--engine", "mam", "--sam-checkpoint", str(tmp_path / "none.pth")]
    for args, problem in [
        ([str(folder), "-o", str(tmp_path / "file")], "file"),
        ([str(tmp_path / "missing"), "-o", str(tmp_path / "out")], "missing"),
    ]:
        result = _mam(*args, *missing_model)
        assert result.returncode == 2, result.stderr
        line = _one_line(result.stderr)
        assert str(tmp_path / problem) in line and "none.pth" not in line
    assert (tmp_path / "file").read_text() == "a file"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file", "photos"]


def test_links_pipes_and_folders_named_like_images(tmp_path: Path) -> None:
    folder = _photos(tmp_path / "photos", ["good.png", "x.png/inside.png"])
    _photos(tmp_path / "elsewhere", ["outside.png"])
    (folder / "self.png").symlink_to("self.png")  # a loop
    (folder / "gone.png").symlink_to("nothing-there.png")
    (folder / "outside.png").symlink_to(tmp_path / "elsewhere" / "outside.png")  # followed
    (folder / "loop").symlink_to(".", target_is_directory=True)  # not followed
    (folder / "sub").mkdir()
    (folder / "sub" / "up").symlink_to("..", target_is_directory=True)
    os.mkfifo(folder / "pipe.png")
    out = tmp_path / "out"
    result = _mam(str(folder), "-o", str(out), *CLASSIC)
    assert result.returncode == 1, result.stderr
    statuses = {r["rel"]: (r["status"], r["error"]) for r in _manifest(out)}
    assert sorted(statuses) == [
        "gone.png", "good.png", "outside.png", "pipe.png", "self.png", "x.png/inside.png"
    ]  # fmt: skip
    assert "broken symbolic link" in statuses["gone.png"][1]
    assert "symbolic links" in statuses["self.png"][1]
    assert "not a regular file" in statuses["pipe.png"][1]
    for rel in ("good.png", "outside.png", "x.png/inside.png"):
        assert statuses[rel][0] == "ok"
    _whole_files(out)


def test_colliding_names_keep_every_output_and_instances_have_their_own_folder(
    tmp_path: Path,
) -> None:
    folder = _photos(tmp_path / "photos", ["a.jpg", "a.png", "b.png", "c.png", "c/x.png"])
    _photos(tmp_path / "photos", ["B.PNG"])  # same stem as b.png but for the case
    if len(list(folder.iterdir())) == 5:
        pytest.skip("case-insensitive file system: B.PNG is b.png")
    out = tmp_path / "out"
    result = _mam(str(folder), "-o", str(out), *CLASSIC)
    assert result.returncode == 0, result.stderr
    records = {r["rel"]: r for r in _manifest(out)}
    alphas = {rel: Path(r["outputs"]["alpha"]).relative_to(out / "alpha").as_posix()
              for rel, r in records.items()}  # fmt: skip
    assert alphas["a.jpg"] == "a.jpg.png" and alphas["a.png"] == "a.png.png"
    assert alphas["c.png"] == "c.png.png"  # "c" is the folder of c/x.png's outputs
    assert alphas["c/x.png"] == "c/x.png"
    assert alphas["b.png"].startswith("b.png-") and alphas["B.PNG"].startswith("B.PNG-")
    assert len({name.casefold() for name in alphas.values()}) == 6
    pixels = {rel: cv2.imread(str(out / "alpha" / name)) for rel, name in alphas.items()}
    assert all(image is not None for image in pixels.values())
    rerun = _mam(str(folder), "-o", str(out), *CLASSIC)
    assert [r["status"] for r in _manifest(out)] == ["cached"] * 6, rerun.stderr


def test_earlier_outputs_inside_the_input_tree_are_never_inputs(tmp_path: Path) -> None:
    folder = _photos(tmp_path / "photos", ["a.png", "b.png"])
    first = _mam(str(folder), "-o", str(folder / "out1"), *CLASSIC)
    assert first.returncode == 0, first.stderr
    assert (folder / "out1" / ".mam" / "output").is_file()
    relative = subprocess.run(
        [sys.executable, "-m", "mamcli", "matte", ".", "-o", "../other", *CLASSIC],
        capture_output=True, text=True, cwd=folder,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    assert relative.returncode == 0, relative.stderr
    assert sorted(r["rel"] for r in _manifest(tmp_path / "other")) == ["a.png", "b.png"]
    again = _mam(str(folder), "-o", str(tmp_path / "other"), *CLASSIC)  # same, spelled absolute
    assert [r["status"] for r in _manifest(tmp_path / "other")] == ["cached"] * 2, again.stderr
    assert np.array_equal(
        cv2.imread(str(tmp_path / "other/alpha/a.png")),
        cv2.imread(str(folder / "out1/alpha/a.png")),
    )


@pytest.fixture()
def mam_args(tiny_sam_checkpoint: Path, m2m_checkpoint: Path) -> list[str]:
    return [
        "--engine", "mam", "--model", "vit_b", "--device", "cpu", "--precision", "fp32",
        "--sam-checkpoint", str(tiny_sam_checkpoint), "--m2m-checkpoint", str(m2m_checkpoint),
        "--outputs", "alpha,mask",
    ]  # fmt: skip


@pytest.mark.parametrize("engine", ["classic", "mam"])
def test_odd_images_matte_or_fail_with_one_line(
    tmp_path: Path, engine: str, request: pytest.FixtureRequest
) -> None:
    folder = tmp_path / "photos"
    folder.mkdir()
    Image.fromarray(np.full((1, 1, 3), 128, np.uint8)).save(folder / "one.png")
    Image.fromarray(synthetic_photo(1, 200)).save(folder / "wide.png")
    cv2.imwrite(
        str(folder / "grey16.png"), (np.arange(60 * 80).reshape(60, 80) * 13).astype(np.uint16)
    )
    pages = [Image.fromarray(synthetic_photo(60, 80, seed=s)) for s in range(3)]
    pages[0].save(folder / "pages.tif", save_all=True, append_images=pages[1:])
    pages[0].save(folder / "anim.gif", save_all=True, append_images=pages[1:])  # not an input
    (folder / "[bold red]EVIL.png").write_text("not an image")
    boxes = {"one.png": [[0, 0, 1, 1]], "wide.png": [[0, 0, 200, 1]]}
    boxes |= {name: [[5, 5, 70, 50]] for name in ("grey16.png", "pages.tif", "[bold red]EVIL.png")}
    (tmp_path / "boxes.json").write_text(json.dumps(boxes))
    args = CLASSIC if engine == "classic" else request.getfixturevalue("mam_args")
    out = tmp_path / "out"
    result = _mam(str(folder), "-o", str(out), "--boxes", str(tmp_path / "boxes.json"), *args)
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    assert f"{folder}/[bold red]EVIL.png: not an image file" in result.stdout + result.stderr
    records = {r["rel"]: r for r in _manifest(out)}
    assert sorted(records) == [
        "[bold red]EVIL.png",
        "grey16.png",
        "one.png",
        "pages.tif",
        "wide.png",
    ]
    for rel in ("one.png", "wide.png"):  # mattes, or fails with one line naming the file
        record = records[rel]
        assert record["status"] == "ok" or record["error"].startswith(f"{folder / rel}: ")
        if engine == "classic":
            assert "too small for the classic engine" in record["error"]
        if record["status"] == "failed":
            assert "\n" not in record["error"]
        else:
            shape = cv2.imread(record["outputs"]["alpha"], cv2.IMREAD_UNCHANGED).shape
            assert shape == tuple(reversed(record["size"]))
    for rel in ("grey16.png", "pages.tif"):
        assert records[rel]["status"] == "ok", records[rel]["error"]
    assert records["pages.tif"]["notes"] == ["multi-frame file: using the first of 3 frames"]
    _whole_files(out)
    gif = _mam(str(folder / "anim.gif"), "-o", str(tmp_path / "gif"), *CLASSIC)
    assert gif.returncode == 2 and "not a supported image type" in _one_line(gif.stderr)
