"""Content identity of checkpoint files (placeholder until the hashed, cached version)."""

from __future__ import annotations

import hashlib
from pathlib import Path


def checkpoint_identity(path: str | Path | None) -> dict | None:
    """Size, mtime and sha256 of a checkpoint file (None for no file)."""
    if path is None:
        return None
    resolved = Path(path).resolve()
    info = resolved.stat()
    digest = hashlib.sha256(resolved.read_bytes()).hexdigest()
    return {"size": info.st_size, "mtime_ns": info.st_mtime_ns, "sha256": digest}
