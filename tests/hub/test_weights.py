"""Checkpoint registry and downloads, against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import hashlib
import io
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from mamcli.cli import app
from mamcli.errors import InputError, MamError
from mamcli.hub.weights import (
    REGISTRY,
    WeightSpec,
    cached_path,
    download,
    find_weights,
    get_weight,
    resolve_checkpoint,
    sources,
)

REPO = Path(__file__).resolve().parents[2]


def _checkpoint_bytes(numel: int = 64) -> bytes:
    buffer = io.BytesIO()
    torch.save({"state_dict": {"w": torch.arange(numel, dtype=torch.float32)}}, buffer)
    return buffer.getvalue()


GOOD = _checkpoint_bytes()
GOOD_SHA = hashlib.sha256(GOOD).hexdigest()
BIG = _checkpoint_bytes(1 << 18)  # 1 MiB of tensor data: several read chunks


class _Handler(BaseHTTPRequestHandler):
    """Serves server.files[path] = (bytes, mode); modes "cut" and "stall" announce the whole
    file but send half of it, then close the connection or wait. Answers HEAD like the HF Hub."""

    server: _FileServer

    def do_HEAD(self) -> None:
        self._answer(send_body=False)

    def do_GET(self) -> None:
        self._answer(send_body=True)

    def _answer(self, send_body: bool) -> None:
        self.server.requests.append((self.command, self.path))
        if self.path not in self.server.files:
            self.send_error(404)
            return
        data, mode = self.server.files[self.path]
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("ETag", f'"{hashlib.sha256(data).hexdigest()}"')
        self.send_header("X-Repo-Commit", "0123456789abcdef0123456789abcdef01234567")
        self.end_headers()
        if not send_body:
            return
        if mode == "ok":
            self.wfile.write(data)
            return
        self.wfile.write(data[: len(data) // 2])
        self.wfile.flush()
        if mode == "stall":
            self.server.release.wait(60)

    def log_message(self, *args) -> None:
        pass


class _FileServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.files: dict[str, tuple[bytes, str]] = {}
        self.requests: list[tuple[str, str]] = []
        self.release = threading.Event()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server_port}{path}"

    def gets(self) -> int:
        return sum(method == "GET" for method, _ in self.requests)


@pytest.fixture
def server():
    srv = _FileServer()
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.release.set()
    srv.shutdown()
    srv.server_close()


@pytest.fixture(autouse=True)
def mam_home(tmp_path, monkeypatch) -> Path:
    home = tmp_path / "mam_home"
    monkeypatch.setenv("MAM_HOME", str(home))
    for var in ("MAM_MIRROR", "HF_ENDPOINT", "HF_HUB_OFFLINE"):
        monkeypatch.delenv(var, raising=False)
    for name in REGISTRY:
        monkeypatch.delenv(f"MAM_WEIGHTS_URL_{name.upper()}", raising=False)
    return home


def _spec(url: str, sha256: str | None = GOOD_SHA) -> WeightSpec:
    return WeightSpec("test_sam", "sam", "vit_b", "test_sam.pth", (url,), sha256)


def _cache_files(home: Path) -> list[str]:
    folder = home / "checkpoints"
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_registry_entries_and_unknown_name():
    sam_b = get_weight("sam_vit_b")
    assert (sam_b.kind, sam_b.model, sam_b.filename) == ("sam", "vit_b", "sam_vit_b_01ec64.pth")
    assert sam_b.urls[0] == "https://dl.fbaipublicfiles.com/segment_anything/sam_vit_b_01ec64.pth"
    assert all(
        len(REGISTRY[n].sha256) == 64 for n in ("sam_vit_l", "sam_vit_h", "mobile_sam_vit_t")
    )
    assert get_weight("mam_vit_b").sha256 is None
    assert get_weight("mam_vit_b").urls == ("hf://zhengchong/Human-Toolkit/MAM/mam_vitb.pth",)
    with pytest.raises(MamError, match="known: sam_vit_b, sam_vit_l, sam_vit_h, mobile_sam_vit_t"):
        get_weight("vit_b")


def test_cache_location_follows_mam_home(mam_home):
    assert cached_path("sam_vit_h") == mam_home / "checkpoints" / "sam_vit_h_4b8939.pth"


def test_good_file_is_cached_and_second_call_uses_cache(server, mam_home):
    server.files["/good.pth"] = (GOOD, "ok")
    spec = _spec(server.url("/good.pth"))
    path = download(spec, progress=False)
    assert path == mam_home / "checkpoints" / "test_sam.pth"
    assert hashlib.sha256(path.read_bytes()).hexdigest() == GOOD_SHA
    assert server.gets() == 1
    assert download(spec, progress=False) == path
    assert server.gets() == 1
    assert _cache_files(mam_home) == ["test_sam.pth"]


def test_bad_hash_is_rejected_and_nothing_is_left(server, mam_home):
    server.files["/good.pth"] = (GOOD, "ok")
    with pytest.raises(MamError) as info:
        download(_spec(server.url("/good.pth"), sha256="0" * 64), progress=False)
    message = str(info.value)
    assert "test_sam.pth" in message and "0" * 64 in message and GOOD_SHA in message
    assert "\n" not in message
    assert _cache_files(mam_home) == []


def test_connection_closed_mid_file_leaves_no_file(server, mam_home):
    server.files["/cut.pth"] = (BIG, "cut")
    with pytest.raises(MamError, match="incomplete or not a checkpoint"):
        download(_spec(server.url("/cut.pth"), sha256=None), progress=False)
    assert _cache_files(mam_home) == []


def test_unreachable_source_gives_offline_instructions(mam_home):
    url = f"http://127.0.0.1:{_closed_port()}/sam.pth"
    with pytest.raises(MamError) as info:
        download("sam_vit_b", url=url, progress=False)
    message = str(info.value)
    assert message.startswith(f"cannot download sam_vit_b from {url}")
    assert str(cached_path("sam_vit_b")) in message and "--sam-checkpoint" in message
    assert "MAM_HOME" in message and "\n" not in message
    assert _cache_files(mam_home) == []


def test_unreachable_primary_falls_back_to_mirror(server, mam_home):
    server.files["/good.pth"] = (GOOD, "ok")
    dead = f"http://127.0.0.1:{_closed_port()}/good.pth"
    spec = WeightSpec("t", "m2m", "vit_b", "t.pth", (dead, server.url("/good.pth")), GOOD_SHA)
    assert download(spec, progress=False).read_bytes() == GOOD


def test_environment_overrides_sources(server, monkeypatch):
    server.files["/mirror/mam_vitb.pth"] = (GOOD, "ok")
    monkeypatch.setenv("MAM_MIRROR", server.url("/mirror/"))
    assert sources("mam_vit_b") == [server.url("/mirror/mam_vitb.pth")]
    monkeypatch.setenv("MAM_WEIGHTS_URL_MAM_VIT_B", server.url("/named.pth"))
    assert sources("mam_vit_b") == [server.url("/named.pth")]
    assert sources("mam_vit_b", url="file:///x.pth") == ["file:///x.pth"]
    monkeypatch.delenv("MAM_WEIGHTS_URL_MAM_VIT_B")
    assert download("mam_vit_b", progress=False).read_bytes() == GOOD


def test_registry_hash_applies_to_overridden_source(server, mam_home):
    server.files["/fake.pth"] = (GOOD, "ok")
    with pytest.raises(MamError, match="wrong sha256 .*ec2df627"):
        download("sam_vit_b", url=server.url("/fake.pth"), progress=False)
    assert _cache_files(mam_home) == []


def test_file_url_installs_a_local_copy(tmp_path, mam_home):
    local = tmp_path / "offline_copy.pth"
    local.write_bytes(GOOD)
    path = download(_spec(local.as_uri()), progress=False)
    assert path.read_bytes() == GOOD


def test_hf_source_through_hf_endpoint(server, mam_home, monkeypatch):
    server.files["/owner/repo/resolve/main/MAM/file.pth"] = (GOOD, "ok")
    monkeypatch.setenv("HF_ENDPOINT", server.url(""))
    path = download(_spec("hf://owner/repo/MAM/file.pth"), progress=False)
    assert path.read_bytes() == GOOD
    assert ("GET", "/owner/repo/resolve/main/MAM/file.pth") in server.requests
    assert _cache_files(mam_home) == ["test_sam.pth"]  # no HF scratch cache left behind


def test_hf_source_with_bad_hash_leaves_nothing(server, mam_home, monkeypatch):
    server.files["/owner/repo/resolve/main/file.pth"] = (GOOD, "ok")
    monkeypatch.setenv("HF_ENDPOINT", server.url(""))
    with pytest.raises(MamError, match="wrong sha256"):
        download(_spec("hf://owner/repo/file.pth", sha256="f" * 64), progress=False)
    assert _cache_files(mam_home) == []


def test_resolve_checkpoint_prefers_explicit_then_cache(tmp_path, mam_home):
    assert find_weights("vit_b") == (None, None)
    cached = cached_path("mam_vit_b")
    cached.parent.mkdir(parents=True)
    cached.write_bytes(GOOD)
    assert find_weights("vit_b") == (None, cached)
    assert resolve_checkpoint("m2m", "vit_h", None) is None
    explicit = tmp_path / "mine.pth"
    explicit.write_bytes(GOOD)
    assert resolve_checkpoint("m2m", "vit_b", explicit) == explicit
    with pytest.raises(InputError, match="missing.pth: checkpoint file not found"):
        resolve_checkpoint("sam", "vit_b", tmp_path / "missing.pth")


def test_cli_list_path_and_download(server, mam_home, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    server.files["/mam.pth"] = (GOOD, "ok")
    runner = CliRunner()

    listed = runner.invoke(app, ["weights", "list"])
    assert listed.exit_code == 0
    assert all(name in listed.output for name in REGISTRY)
    assert "unverified" in listed.output and "ec2df627" in listed.output

    missing = runner.invoke(app, ["weights", "path", "mam_vit_b"])
    assert missing.exit_code == 1
    assert "mam weights download mam_vit_b" in missing.output

    fetched = runner.invoke(
        app, ["weights", "download", "mam_vit_b", "--url", server.url("/mam.pth")]
    )
    assert fetched.exit_code == 0, fetched.output
    target = mam_home / "checkpoints" / "mam_vitb.pth"
    assert target.read_bytes() == GOOD

    found = runner.invoke(app, ["weights", "path", "mam_vit_b"])
    assert (found.exit_code, found.output.strip()) == (0, str(target))

    rejected = runner.invoke(
        app, ["weights", "download", "sam_vit_b", "--url", server.url("/mam.pth")]
    )
    assert rejected.exit_code == 2
    assert "mam: error: sam_vit_b_01ec64.pth from" in rejected.output
    assert _cache_files(mam_home) == ["mam_vitb.pth"]


@pytest.mark.skipif(sys.platform == "win32", reason="needs SIGINT delivery to a child process")
def test_interrupted_download_leaves_no_partial_file(server, mam_home):
    server.files["/slow.pth"] = (BIG, "stall")
    env = {**os.environ, "MAM_HOME": str(mam_home), "PYTHONPATH": str(REPO)}
    command = ["weights", "download", "mam_vit_b", "--url", server.url("/slow.pth")]
    child = subprocess.Popen([sys.executable, "-m", "mamcli", *command], env=env)
    try:
        folder = mam_home / "checkpoints"
        deadline = time.monotonic() + 120
        while not any(p.stat().st_size for p in folder.glob("*.partial")):
            assert child.poll() is None and time.monotonic() < deadline, "download never started"
            time.sleep(0.05)
        child.send_signal(signal.SIGINT)
        assert child.wait(60) != 0
    finally:
        server.release.set()
        if child.poll() is None:
            child.kill()
    assert _cache_files(mam_home) == []
