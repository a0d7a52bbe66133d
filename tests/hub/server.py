"""A real HTTP file server on 127.0.0.1 for download tests, and checkpoint bytes to serve."""

from __future__ import annotations

import hashlib
import io
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import torch


def checkpoint_bytes(numel: int = 64) -> bytes:
    buffer = io.BytesIO()
    torch.save({"state_dict": {"w": torch.arange(numel, dtype=torch.float32)}}, buffer)
    return buffer.getvalue()


GOOD = checkpoint_bytes()
GOOD_SHA = hashlib.sha256(GOOD).hexdigest()
BIG = checkpoint_bytes(1 << 18)  # 1 MiB of tensor data: several read chunks


class _Handler(BaseHTTPRequestHandler):
    """Serves server.files[path] = (bytes, mode); modes "cut" and "stall" announce the whole
    file but send half of it, then close the connection or wait for `release`. Sets
    `half_sent` once half a file is out. Answers HEAD like the HF Hub."""

    server: FileServer

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
        self.server.half_sent.set()
        if mode == "stall":
            self.server.release.wait(60)

    def log_message(self, *args) -> None:
        pass


class FileServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.files: dict[str, tuple[bytes, str]] = {}
        self.requests: list[tuple[str, str]] = []
        self.release = threading.Event()
        self.half_sent = threading.Event()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server_port}{path}"

    def gets(self) -> int:
        return sum(method == "GET" for method, _ in self.requests)


def closed_port() -> int:
    """A local port nothing listens on (connections to it are refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def cache_files(home: Path) -> list[str]:
    """Names in <home>/checkpoints, hidden temporary files included."""
    folder = home / "checkpoints"
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []
