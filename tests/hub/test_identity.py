"""Checkpoint identity: sha256 of real files, remembered in MAM_HOME/hashes.json."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mamcli.errors import InputError
from mamcli.hub.identity import checkpoint_identity, content_hash, hash_cache_path

REPO = Path(__file__).resolve().parents[2]


def _write(path: Path, data: bytes, mtime_ns: int | None = None) -> None:
    path.write_bytes(data)
    if mtime_ns is not None:
        os.utime(path, ns=(mtime_ns, mtime_ns))


def _cache() -> dict:
    return json.loads(hash_cache_path().read_text())["entries"]


def test_identity_names_the_resolved_file_and_its_hash(tmp_path, mam_home, monkeypatch):
    path = tmp_path / "ckpt.pth"
    _write(path, b"first version", 1_000_000_000_000_000_000)
    monkeypatch.chdir(tmp_path)
    identity = checkpoint_identity("ckpt.pth")
    assert identity == {
        "path": str(path.resolve()),
        "size": 13,
        "mtime_ns": 1_000_000_000_000_000_000,
        "sha256": hashlib.sha256(b"first version").hexdigest(),
    }
    assert hash_cache_path() == mam_home / "hashes.json"
    assert _cache()[str(path.resolve())]["sha256"] == identity["sha256"]


def test_cache_hit_does_not_read_the_file(tmp_path):
    """Bytes changed in place with size and mtime put back keep the remembered hash: the
    known limit of stat-keyed caching, and the proof that a hit does not read the file."""
    path = tmp_path / "ckpt.pth"
    _write(path, b"A" * 100, 1_500_000_000_000_000_000)
    remembered = content_hash(path)
    with path.open("r+b") as handle:  # same inode, same size
        handle.write(b"B" * 100)
    os.utime(path, ns=(1_500_000_000_000_000_000, 1_500_000_000_000_000_000))
    assert content_hash(path) == remembered == hashlib.sha256(b"A" * 100).hexdigest()


def test_rewritten_checkpoint_gets_a_new_identity(tmp_path):
    path = tmp_path / "ckpt.pth"
    _write(path, b"epoch 1", 1_600_000_000_000_000_000)
    before = checkpoint_identity(path)
    _write(path, b"epoch 2", 1_600_000_000_000_000_001)
    after = checkpoint_identity(path)
    assert after["sha256"] == hashlib.sha256(b"epoch 2").hexdigest() != before["sha256"]
    assert after != before


def test_atomic_replace_with_same_size_and_mtime_is_noticed(tmp_path):
    """save_checkpoint replaces a file by renaming a new one over it (a new inode): the
    same size and the same mtime tick still give the new hash."""
    path = tmp_path / "ckpt.pth"
    _write(path, b"weights v1", 1_700_000_000_000_000_000)
    first = content_hash(path)
    replacement = tmp_path / "ckpt.pth.tmp"
    _write(replacement, b"weights v2", 1_700_000_000_000_000_000)
    os.replace(replacement, path)
    assert content_hash(path) == hashlib.sha256(b"weights v2").hexdigest() != first


def test_touched_file_keeps_its_content_hash(tmp_path):
    path = tmp_path / "ckpt.pth"
    _write(path, b"same bytes", 1_800_000_000_000_000_000)
    before = checkpoint_identity(path)
    os.utime(path, ns=(1_800_000_000_000_000_999, 1_800_000_000_000_000_999))
    after = checkpoint_identity(path)
    assert after["sha256"] == before["sha256"]
    assert after["mtime_ns"] == before["mtime_ns"] + 999
    assert _cache()[str(path.resolve())]["stamp"][1] == after["mtime_ns"]


def test_corrupt_cache_is_recomputed_and_repaired(tmp_path, mam_home):
    path = tmp_path / "ckpt.pth"
    _write(path, b"payload")
    mam_home.mkdir()
    stale = json.dumps({"version": 1, "entries": {str(path.resolve()): 7}})
    for garbage in ("{not json", '["a list"]', stale):
        hash_cache_path().write_text(garbage)
        assert content_hash(path) == hashlib.sha256(b"payload").hexdigest()
        assert _cache()[str(path.resolve())]["sha256"] == hashlib.sha256(b"payload").hexdigest()


def test_unwritable_cache_still_returns_the_hash(tmp_path, monkeypatch):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("MAM_HOME", str(blocker / "home"))
    path = tmp_path / "ckpt.pth"
    _write(path, b"payload")
    assert content_hash(path) == hashlib.sha256(b"payload").hexdigest()


def test_deleted_files_are_dropped_from_the_cache(tmp_path):
    old, new = tmp_path / "old.pth", tmp_path / "new.pth"
    _write(old, b"old")
    content_hash(old)
    old.unlink()
    _write(new, b"new")
    content_hash(new)
    assert list(_cache()) == [str(new.resolve())]


def test_concurrent_processes_leave_a_valid_cache(tmp_path, mam_home):
    files = []
    for index in range(4):
        files.append(tmp_path / f"ckpt{index}.pth")
        _write(files[-1], bytes([index]) * 4096)
    script = (
        "import sys; from mamcli.hub.identity import content_hash; print(content_hash(sys.argv[1]))"
    )
    env = {**os.environ, "MAM_HOME": str(mam_home), "PYTHONPATH": str(REPO)}
    children = [
        subprocess.Popen([sys.executable, "-c", script, str(f)], env=env, stdout=subprocess.PIPE)
        for f in files
    ]
    outputs = [child.communicate(timeout=120)[0].decode().strip() for child in children]
    assert [child.returncode for child in children] == [0] * 4
    assert outputs == [hashlib.sha256(f.read_bytes()).hexdigest() for f in files]
    entries = _cache()  # parses: never a torn file; last writer wins, so some may be missing
    assert entries
    for name, entry in entries.items():
        assert entry["sha256"] == hashlib.sha256(Path(name).read_bytes()).hexdigest()
    assert [p.name for p in mam_home.iterdir()] == ["hashes.json"]  # no temporary files left


def test_missing_file_or_folder_is_a_one_line_input_error(tmp_path):
    with pytest.raises(InputError, match=r"gone\.pth: checkpoint file not found$"):
        checkpoint_identity(tmp_path / "gone.pth")
    with pytest.raises(InputError, match="is not a file"):
        content_hash(tmp_path)
