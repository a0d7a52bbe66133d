"""What a checkpoint file is, by content: its sha256, computed once per version of the file.

Hashing a 2.5 GB SAM checkpoint takes seconds, and resuming a run asks "is this still the
checkpoint the run started with?" every time. So the hash is remembered in a small JSON
file in the cache folder (`hashes.json`), keyed by the resolved path and checked against
the file's size, mtime_ns and inode: a file rewritten in place or replaced by a rename
gets hashed again, while touching a file (new mtime, same bytes) re-hashes it to the same
sha256.

The limit of stat-keyed caching: bytes changed in place with size and mtime put back by
hand (os.utime) keep the old hash. Nothing mam does writes files that way.

The cache file is replaced atomically, so concurrent processes never see a torn file
(the last writer wins; a lost entry is only hashed again). A corrupt or unreadable cache
is ignored and a cache that cannot be written is skipped: the hash is still returned.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from pathlib import Path

from mamcli.errors import InputError
from mamcli.hub.weights import cache_dir, sha256_of
from mamcli.runtime.atomic import atomic_write_text

CACHE_NAME = "hashes.json"
_VERSION = 1


def hash_cache_path() -> Path:
    """Where remembered hashes live: <cache>/hashes.json (MAM_HOME honoured)."""
    return cache_dir() / CACHE_NAME


def checkpoint_identity(path: str | os.PathLike) -> dict[str, object]:
    """{"path", "size", "mtime_ns", "sha256"} of a file. Two identities with the same
    "sha256" name the same bytes; compare the whole dict to also notice a touched file."""
    resolved = Path(path).resolve()
    digest, (size, mtime_ns, _) = _hash_and_stamp(resolved)
    return {"path": str(resolved), "size": size, "mtime_ns": mtime_ns, "sha256": digest}


def content_hash(path: str | os.PathLike) -> str:
    """Hex sha256 of a file's bytes, from the hash cache when the file has not changed."""
    return _hash_and_stamp(Path(path).resolve())[0]


def _hash_and_stamp(resolved: Path) -> tuple[str, list[int]]:
    """The file's sha256 (remembered or computed) and the stamp it belongs to."""
    before = _stamp(resolved)
    entry = _read_cache().get(str(resolved))
    if isinstance(entry, dict) and entry.get("stamp") == before and _is_hex(entry.get("sha256")):
        return entry["sha256"], before
    digest = sha256_of(resolved)
    if _stamp(resolved) == before:  # not being written while it was read: safe to remember
        entries = _read_cache()  # with what other processes stored meanwhile
        entries[str(resolved)] = {"stamp": before, "sha256": digest}
        _write_cache(entries)
    return digest, before


def _stamp(path: Path) -> list[int]:
    """What changes when a file's bytes are rewritten: size, mtime_ns, inode."""
    try:
        stat = path.stat()
    except FileNotFoundError:
        raise InputError(path, "checkpoint file not found") from None
    if not path.is_file():
        raise InputError(path, "is not a file (checkpoint expected)")
    return [stat.st_size, stat.st_mtime_ns, stat.st_ino]


def _read_cache() -> dict[str, object]:
    try:
        data = json.loads(hash_cache_path().read_text(encoding="utf-8"))
    except (OSError, ValueError):  # missing, unreadable or corrupt: start afresh
        return {}
    if not isinstance(data, dict) or data.get("version") != _VERSION:
        return {}
    entries = data.get("entries")
    return entries if isinstance(entries, dict) else {}


def _write_cache(entries: dict[str, object]) -> None:
    """Store `entries`, less those of files that no longer exist (so the cache stays small)."""
    kept = {name: entry for name, entry in entries.items() if os.path.exists(name)}
    text = json.dumps({"version": _VERSION, "entries": kept}, indent=1, sort_keys=True)
    # A read-only cache folder costs a re-hash next time, nothing more.
    with contextlib.suppress(OSError):
        atomic_write_text(hash_cache_path(), text + "\n")


def _is_hex(value: object) -> bool:
    return isinstance(value, str) and re.fullmatch("[0-9a-f]{64}", value) is not None
