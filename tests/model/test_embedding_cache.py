"""Cached SAM embeddings give the same alphas as a fresh encoder run, and only on a hit."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from mamcli.errors import MamError
from mamcli.imaging.read import load_rgb
from mamcli.imaging.write import write_image
from mamcli.model.api import MattingAnything
from mamcli.model.embedding_cache import EmbeddingCache
from mamcli.results import Instance
from tests.helpers import synthetic_photo

BOXES = [Instance(id="0", box=(60, 40, 180, 140)), Instance(id="1", box=(10, 10, 90, 80))]


@pytest.fixture(scope="module")
def mam(tiny_sam_checkpoint: Path, m2m_checkpoint: Path) -> MattingAnything:
    return MattingAnything.from_checkpoints(sam=tiny_sam_checkpoint, m2m=m2m_checkpoint)


@pytest.fixture
def photo(tmp_path: Path) -> Path:
    path = tmp_path / "photo.png"
    write_image(path, synthetic_photo())
    return path


class CountingEncoder(torch.nn.Module):
    """Counts the images the real encoder is run on (it still computes the embeddings)."""

    def __init__(self, encoder: torch.nn.Module) -> None:
        super().__init__()
        self.encoder, self.images = encoder, 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.images += len(x)
        return self.encoder(x)


def _alphas(mam: MattingAnything, photo: Path, cache=None, checkpoint: str = "sam-a") -> list:
    prepared = mam.sam.prepare(load_rgb(photo).rgb)
    keys = [mam.embedding_key(prepared, checkpoint)] if cache else None
    encoded = mam.encode([prepared], cache=cache, keys=keys)[0]
    return [m.alpha for m in mam.matte(encoded, BOXES)]


@pytest.fixture
def counted(mam: MattingAnything):
    encoder = mam.sam.encoder
    mam.sam.encoder = counter = CountingEncoder(encoder)
    yield counter
    mam.sam.encoder = encoder


def test_cached_embedding_gives_byte_identical_alphas(mam, photo, tmp_path, counted) -> None:
    fresh = _alphas(mam, photo)
    cache = EmbeddingCache(tmp_path / "cache")
    first = _alphas(mam, photo, cache)
    assert counted.images == 2 and len(list((tmp_path / "cache").rglob("*.pt"))) == 1
    second = _alphas(mam, photo, cache)
    assert counted.images == 2  # served from the cache
    for a, b, c in zip(fresh, first, second, strict=True):
        assert a.tobytes() == b.tobytes() == c.tobytes()


def test_corrupt_entry_is_recomputed_and_rewritten(mam, photo, tmp_path, counted) -> None:
    cache = EmbeddingCache(tmp_path / "cache")
    expected = _alphas(mam, photo, cache)
    (entry,) = (tmp_path / "cache").rglob("*.pt")
    entry.write_bytes(entry.read_bytes()[:100])  # truncated, as by a crash or a full disk
    again = _alphas(mam, photo, cache)
    assert counted.images == 2
    assert all(np.array_equal(a, b) for a, b in zip(expected, again, strict=True))
    key = mam.embedding_key(mam.sam.prepare(load_rgb(photo).rgb), "sam-a")
    assert cache.load(key) is not None
    assert not list((tmp_path / "cache").rglob("*.part"))  # atomic writes leave no temp file


def test_changed_checkpoint_or_precision_misses(mam, photo, tmp_path, counted) -> None:
    cache = EmbeddingCache(tmp_path / "cache")
    _alphas(mam, photo, cache, checkpoint="sam-a")
    _alphas(mam, photo, cache, checkpoint="sam-b")
    assert counted.images == 2
    key = mam.embedding_key(mam.sam.prepare(load_rgb(photo).rgb), "sam-a")
    assert cache.load(key) is not None
    assert cache.load(replace(key, precision="bf16")) is None
    assert cache.load(replace(key, input_size=1024)) is None
    assert cache.load(replace(key, numerics=key.numerics - 1)) is None  # earlier encoder code
    assert cache.load(key, shape=(1, 8, 4, 4)) is None  # wrong shape: not used


def test_cache_needs_one_key_per_image(mam, photo, tmp_path) -> None:
    prepared = mam.sam.prepare(load_rgb(photo).rgb)
    with pytest.raises(MamError, match="one key per image"):
        mam.encode([prepared], cache=EmbeddingCache(tmp_path))


def test_bf16_entries_are_stored_at_half_size_and_give_the_same_alphas(
    tiny_sam_checkpoint: Path, m2m_checkpoint: Path, photo: Path, tmp_path: Path
) -> None:
    sizes = {}
    for precision in ("fp32", "bf16"):
        mam = MattingAnything.from_checkpoints(
            sam=tiny_sam_checkpoint, m2m=m2m_checkpoint, precision=precision
        )
        cache = EmbeddingCache(tmp_path / precision)
        fresh, cached = _alphas(mam, photo, cache), _alphas(mam, photo, cache)
        assert all(a.tobytes() == b.tobytes() for a, b in zip(fresh, cached, strict=True))
        (entry,) = (tmp_path / precision).rglob("*.pt")
        sizes[precision] = entry.stat().st_size
    embedding = 256 * 16 * 16  # the tiny SAM's 1 x 256 x 16 x 16 embedding
    assert sizes["fp32"] > 4 * embedding and 2 * embedding < sizes["bf16"] < 2 * embedding + 8192
