"""A folder of SAM image embeddings, so an image already encoded is not encoded again.

One file per entry, named by a hash of its key: the image content, the SAM checkpoint's
identity, the precision and the SAM input size. Any of them changing is a miss. Entries
are written atomically and read with `torch.load(weights_only=True)`; an entry that does
not load or does not have the expected shapes is ignored (and rewritten by the caller).
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from mamcli.model.config import NUMERICS_VERSION
from mamcli.runtime.atomic import atomic_write_bytes

CACHE_VERSION = 1  # bump when the stored layout changes: old entries then miss


@dataclass(frozen=True)
class EmbeddingKey:
    """What an embedding depends on. `checkpoint` is any string that names the SAM weights
    (a file hash, a registry id); `image` is the hash of the decoded pixels."""

    image: str
    checkpoint: str
    precision: str
    input_size: int
    numerics: int = NUMERICS_VERSION  # the encoder code's arithmetic (mamcli/model/config.py)

    def digest(self) -> str:
        text = (
            f"v{CACHE_VERSION}|{self.image}|{self.checkpoint}|{self.precision}"
            f"|{self.input_size}|n{self.numerics}"
        )
        return hashlib.sha256(text.encode("utf-8")).hexdigest()


def image_hash(rgb: np.ndarray) -> str:
    """Hash of an image's decoded pixels and shape (the same photo re-encoded as PNG hits)."""
    digest = hashlib.sha256(f"{rgb.shape}|{rgb.dtype}".encode())
    digest.update(np.ascontiguousarray(rgb).data)
    return digest.hexdigest()


class EmbeddingCache:
    """Embeddings (1 x C x s x s, fp32, on the CPU) stored under `folder`, one file per key."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        self.problem: str | None = None  # why entries are no longer stored, once one failed

    def path(self, key: EmbeddingKey) -> Path:
        digest = key.digest()
        return self.folder / digest[:2] / f"{digest}.pt"

    def load(self, key: EmbeddingKey, shape: tuple[int, ...] | None = None) -> torch.Tensor | None:
        """The stored embedding, or None if absent, unreadable or not of `shape`."""
        path = self.path(key)
        try:
            entry = torch.load(path, map_location="cpu", weights_only=True)
        except FileNotFoundError:
            return None
        except Exception:  # a truncated or foreign file: treat as a miss, it is rewritten
            return None
        embedding = entry.get("embedding") if isinstance(entry, dict) else None
        if not isinstance(embedding, torch.Tensor) or entry.get("key") != key.digest():
            return None
        if shape is not None and tuple(embedding.shape) != tuple(shape):
            return None
        return embedding

    def store(self, key: EmbeddingKey, embedding: torch.Tensor) -> None:
        """Store an entry. A folder that cannot be written (read-only, full, not a folder)
        does not fail the image: storing stops and `problem` says why."""
        if self.problem is not None:
            return
        buffer = io.BytesIO()
        entry = {"key": key.digest(), "embedding": embedding.detach().cpu().contiguous()}
        torch.save(entry, buffer)
        try:
            atomic_write_bytes(self.path(key), buffer.getvalue())
        except OSError as exc:
            reason = exc.strerror or str(exc)
            self.problem = f"{self.folder}: cannot store embeddings ({reason}); running without"
