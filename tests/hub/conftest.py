"""Fixtures of the hub tests: a private MAM_HOME and a local HTTP file server."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from mamcli.hub.weights import REGISTRY
from tests.hub.server import FileServer


@pytest.fixture
def server():
    srv = FileServer()
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
