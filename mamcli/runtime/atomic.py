"""Atomic file writes: write to a temporary name in the same folder, then rename."""

from __future__ import annotations

import contextlib
import os
import re
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO


def _umask_mode() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return (
        stat.S_IRUSR | stat.S_IWUSR | stat.S_IRGRP | stat.S_IWGRP | stat.S_IROTH | stat.S_IWOTH
    ) & ~mask


_DEFAULT_MODE = _umask_mode()

# A temporary file is ".<target name>.<8 random characters>.part" beside its target.
TEMP_SUFFIX = ".part"
_TEMP_NAME = re.compile(r"\..+\.[A-Za-z0-9_]{8}\.part")


def is_temp_name(name: str) -> bool:
    """Is `name` one of `atomic_open`'s temporary files (left behind by a killed process)?"""
    return _TEMP_NAME.fullmatch(name) is not None


def remove_stale_temps(root: Path) -> int:
    """Delete the temporary files of killed writers under `root`; returns how many.

    Only call this while no other process writes under `root` (the output folder's lock).
    Folder symlinks are not followed."""
    removed = 0
    for folder, _, files in os.walk(root):
        for name in files:
            if is_temp_name(name):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(os.path.join(folder, name))
                    removed += 1
    return removed


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "wb") -> Iterator[IO]:
    """Open a temporary sibling of `path`; on success it replaces `path` in one rename.

    An exception (or Ctrl-C) removes the temporary file, so `path` is either the old
    content or the complete new content, never half-written.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=TEMP_SUFFIX, dir=target.parent)
    try:
        with os.fdopen(fd, mode) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, _DEFAULT_MODE)  # mkstemp makes 0600; give the usual umask-based mode
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write `data` to `path` atomically."""
    with atomic_open(path, "wb") as handle:
        handle.write(data)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write UTF-8 `text` to `path` atomically."""
    atomic_write_bytes(path, text.encode("utf-8"))
