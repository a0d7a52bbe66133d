"""`mam weights` as a user runs it: CliRunner, and real processes for TTYs, signals, imports."""

from __future__ import annotations

import json
import os
import pty
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mamcli.cli import app
from mamcli.hub.weights import REGISTRY
from tests.hub.server import BIG, GOOD, cache_files, closed_port

REPO = Path(__file__).resolve().parents[2]


def _env(mam_home: Path, **extra: str) -> dict[str, str]:
    return {**os.environ, "MAM_HOME": str(mam_home), "PYTHONPATH": str(REPO), **extra}


def test_list_table_and_json(mam_home, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    runner = CliRunner()
    listed = runner.invoke(app, ["weights", "list"])
    assert listed.exit_code == 0
    assert all(name in listed.output for name in REGISTRY)
    assert "unverified" in listed.output and "ec2df627" in listed.output

    cached = mam_home / "checkpoints" / "mam_vitb.pth"
    cached.parent.mkdir(parents=True)
    cached.write_bytes(GOOD)
    monkeypatch.setenv("MAM_MIRROR", "https://mirror.example/ckpt/")
    result = runner.invoke(app, ["weights", "list", "--json"])
    assert result.exit_code == 0
    rows = {row["name"]: row for row in json.loads(result.stdout)}
    assert list(rows) == list(REGISTRY)
    assert rows["mam_vit_b"] == {
        "name": "mam_vit_b",
        "kind": "m2m",
        "model": "vit_b",
        "size": None,
        "sha256": None,
        "cached": True,
        "path": str(cached),
        "url": "https://mirror.example/ckpt/mam_vitb.pth",
    }
    assert rows["sam_vit_h"]["cached"] is False
    assert rows["sam_vit_h"]["sha256"] == REGISTRY["sam_vit_h"].sha256
    assert rows["sam_vit_h"]["size"] == 2_564_550_879


def test_path_download_and_errors(server, mam_home):
    server.files["/mam.pth"] = (GOOD, "ok")
    runner = CliRunner()
    missing = runner.invoke(app, ["weights", "path", "mam_vit_b"])
    assert missing.exit_code == 1
    assert "mam weights download mam_vit_b" in missing.stderr

    fetched = runner.invoke(
        app, ["weights", "download", "mam_vit_b", "--url", server.url("/mam.pth")]
    )
    target = mam_home / "checkpoints" / "mam_vitb.pth"
    assert (fetched.exit_code, fetched.stdout, fetched.stderr) == (0, f"{target}\n", "")
    assert target.read_bytes() == GOOD

    found = runner.invoke(app, ["weights", "path", "mam_vit_b"])
    assert (found.exit_code, found.stdout) == (0, f"{target}\n")

    rejected = runner.invoke(
        app, ["weights", "download", "sam_vit_b", "--url", server.url("/mam.pth")]
    )
    assert rejected.exit_code == 2
    assert rejected.stderr.startswith("mam: error: sam_vit_b_01ec64.pth from")
    assert cache_files(mam_home) == ["mam_vitb.pth"]

    unknown = runner.invoke(app, ["weights", "path", "vit_b"])
    assert unknown.exit_code == 2 and "[" not in unknown.stderr
    assert unknown.stderr.startswith("mam: error: unknown checkpoint vit_b")


def test_quiet_download_prints_nothing(server, mam_home):
    server.files["/mam.pth"] = (GOOD, "ok")
    args = ["weights", "download", "mam_vit_b", "-q", "--url", server.url("/mam.pth")]
    result = CliRunner().invoke(app, args)
    assert (result.exit_code, result.output) == (0, "")
    assert cache_files(mam_home) == ["mam_vitb.pth"]


@pytest.mark.parametrize("mirror", ["http://nonexistent.invalid/", "hf://owner/repo"])
def test_offline_download_is_one_line_with_exit_code_4(mam_home, monkeypatch, mirror):
    monkeypatch.setenv("MAM_MIRROR", mirror)
    monkeypatch.setenv("HF_ENDPOINT", "http://nonexistent.invalid")
    result = CliRunner().invoke(app, ["weights", "download", "sam_vit_b"])
    assert result.exit_code == 4
    assert result.stdout == ""
    assert result.stderr == (
        "mam: error: cannot reach nonexistent.invalid (name does not resolve; no network?): "
        "download sam_vit_b_01ec64.pth elsewhere and pass --sam-checkpoint FILE, "
        "or set MAM_MIRROR / --url\n"
    )
    assert cache_files(mam_home) == []


def test_offline_exit_code_of_the_real_command(mam_home):
    url = f"http://127.0.0.1:{closed_port()}/sam.pth"
    child = subprocess.run(
        [sys.executable, "-m", "mamcli", "weights", "download", "sam_vit_b", "--url", url],
        env=_env(mam_home),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert child.returncode == 4
    assert child.stderr.count("\n") == 1 and "connection refused" in child.stderr
    offline = subprocess.run(
        [sys.executable, "-m", "mamcli", "weights", "download", "mam_vit_b"],
        env=_env(mam_home, HF_HUB_OFFLINE="1"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert offline.returncode == 4
    assert offline.stderr.startswith("mam: error: cannot reach huggingface.co (HF_HUB_OFFLINE")
    assert cache_files(mam_home) == []


def test_progress_bar_on_a_terminal_only(server, mam_home):
    server.files["/big.pth"] = (BIG, "ok")
    primary, secondary = pty.openpty()
    command = [sys.executable, "-m", "mamcli", "weights", "download", "mam_vit_b"]
    child = subprocess.Popen(
        [*command, "--url", server.url("/big.pth")],
        env=_env(mam_home, TERM="xterm", COLUMNS="120"),
        stdout=subprocess.PIPE,
        stderr=secondary,
    )
    os.close(secondary)
    drawn = b""
    while True:  # read the terminal until the child closes it
        try:
            chunk = os.read(primary, 4096)
        except OSError:
            break
        if not chunk:
            break
        drawn += chunk
    os.close(primary)
    stdout = child.communicate(timeout=120)[0].decode()
    assert child.returncode == 0
    assert stdout == f"{mam_home / 'checkpoints' / 'mam_vitb.pth'}\n"
    text = drawn.decode(errors="replace")
    size = f"{len(BIG) / 1e6:.1f}"  # rich counts decimal megabytes
    assert "mam_vitb.pth" in text and f"{size}/{size} MB" in text and "MB/s" in text


@pytest.mark.skipif(sys.platform == "win32", reason="needs SIGINT delivery to a child process")
def test_interrupted_download_leaves_no_partial_file(server, mam_home):
    server.files["/slow.pth"] = (BIG, "stall")
    command = ["weights", "download", "mam_vit_b", "--url", server.url("/slow.pth")]
    child = subprocess.Popen([sys.executable, "-m", "mamcli", *command], env=_env(mam_home))
    try:
        assert server.half_sent.wait(120), "download never started"
        child.send_signal(signal.SIGINT)
        assert child.wait(60) == 130
    finally:
        server.release.set()
        if child.poll() is None:
            child.kill()
    assert cache_files(mam_home) == []


def test_list_and_path_do_not_import_torch(mam_home):
    script = (
        "import sys\n"
        "from mamcli.cli import app\n"
        "for args in (['weights', 'list'], ['weights', 'list', '--json'],"
        " ['weights', 'path', 'sam_vit_b']):\n"
        "    app(args, standalone_mode=False)\n"
        "heavy = sorted(m for m in ('torch', 'huggingface_hub') if m in sys.modules)\n"
        "print('heavy:', heavy)\n"
    )
    child = subprocess.run(
        [sys.executable, "-c", script],
        env=_env(mam_home),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert child.returncode == 0, child.stderr
    assert child.stdout.splitlines()[-1] == "heavy: []"
    assert "sam_vit_b is not downloaded" in child.stderr


def test_download_flags_are_generated_from_download_config():
    """One home per option: `mam weights download`'s parameters are DownloadConfig's fields,
    with the help text declared there."""
    import dataclasses

    import typer

    from mamcli.cli.weights import app as weights_app
    from mamcli.hub.config import DownloadConfig

    command = typer.main.get_group(weights_app).commands["download"]
    fields = {f.name: f for f in dataclasses.fields(DownloadConfig)}
    assert {p.name for p in command.params} == set(fields)
    for param in command.params:
        assert param.help == fields[param.name].metadata["help"]
    quiet = next(p for p in command.params if p.name == "quiet")
    assert set(quiet.opts) == {"--quiet", "-q"}
