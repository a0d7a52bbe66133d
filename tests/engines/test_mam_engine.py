"""The MAM engine's embedding cache through `mam matte`, in real processes: a rerun with
other prompts reads the embeddings back instead of running the encoder, and its alphas are
byte-identical to a run without the cache."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from mamcli.engines.config import EngineSettings
from mamcli.matte.config import MatteConfig
from tests.helpers import synthetic_photo

ROOT = Path(__file__).resolve().parents[2]
NAMES = ("one.png", "two.png")


def _mam(*args: str | Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-m", "mamcli", "matte", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        check=False,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def _timings(out: Path) -> dict[str, dict[str, float]]:
    lines = (out / "manifest.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines]
    assert all(record["status"] == "ok" for record in records), records
    return {Path(record["input"]).name: record["timings"] for record in records}


def _alphas(out: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted((out / "alpha").glob("*.png"))}


@pytest.fixture()
def photos(tmp_path: Path) -> Path:
    folder = tmp_path / "photos"
    folder.mkdir()
    for seed, name in enumerate(NAMES):
        Image.fromarray(synthetic_photo(150, 200, seed=seed)).save(folder / name)
    return folder


def test_rerun_with_other_boxes_skips_the_encoder_and_matches_a_fresh_run(
    tmp_path: Path, photos: Path, tiny_sam_checkpoint: Path, m2m_checkpoint: Path
) -> None:
    engine = [
        "--engine", "mam", "--model", "vit_b", "--device", "cpu", "--precision", "fp32",
        "--sam-checkpoint", tiny_sam_checkpoint, "--m2m-checkpoint", m2m_checkpoint,
        "--outputs", "alpha",
    ]  # fmt: skip
    first, second = tmp_path / "boxes_a.json", tmp_path / "boxes_b.json"
    first.write_text(json.dumps({name: [[40, 30, 160, 120]] for name in NAMES}))
    second.write_text(json.dumps({name: [[10, 20, 120, 140]] for name in NAMES}))
    out, fresh = tmp_path / "out", tmp_path / "fresh"

    _mam(photos, "-o", out, "--boxes", first, *engine)
    assert all("encode" in t and "embedding_cache" not in t for t in _timings(out).values())
    stored = list((out / ".mam" / "embeddings").rglob("*.pt"))
    assert len(stored) == len(NAMES)
    before = _alphas(out)

    _mam(photos, "-o", out, "--boxes", second, *engine)
    rerun = _timings(out)
    assert set(rerun) == set(NAMES)
    assert all("encode" not in t and "embedding_cache" in t for t in rerun.values()), rerun
    cached = _alphas(out)
    assert cached.keys() == before.keys() and cached != before  # other boxes, other alphas

    _mam(photos, "-o", fresh, "--boxes", second, *engine, "--no-cache-embeddings")
    assert all("encode" in t for t in _timings(fresh).values())
    assert not (fresh / ".mam" / "embeddings").exists()
    assert _alphas(fresh) == cached


def test_cache_folder_resolution(tmp_path: Path) -> None:
    assert MatteConfig(out_dir=tmp_path).engine.cache_dir == tmp_path / ".mam" / "embeddings"
    shared = tmp_path / "shared"
    assert MatteConfig(out_dir=tmp_path, cache=shared).engine.cache_dir == shared
    off = MatteConfig(out_dir=tmp_path, engine=EngineSettings(cache_embeddings=False))
    assert off.engine.cache_dir is None


def test_a_cache_folder_that_cannot_be_written_warns_once_and_the_run_goes_on(
    tmp_path: Path, photos: Path, tiny_sam_checkpoint: Path, m2m_checkpoint: Path
) -> None:
    boxes = tmp_path / "boxes.json"
    boxes.write_text(json.dumps({name: [[40, 30, 160, 120]] for name in NAMES}))
    engine = [
        "--engine", "mam", "--precision", "fp32", "--outputs", "alpha", "--boxes", boxes,
        "--sam-checkpoint", tiny_sam_checkpoint, "--m2m-checkpoint", m2m_checkpoint,
    ]  # fmt: skip
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the cache folder should be")
    out, fresh = tmp_path / "out", tmp_path / "fresh"
    _mam(photos, "-o", out, *engine, "--cache", blocked)
    records = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
    assert [r["status"] for r in records] == ["ok", "ok"]
    notes = [w for r in records for w in r["warnings"] if "cannot store embeddings" in w]
    assert len(notes) == 1 and str(blocked) in notes[0], records
    _mam(photos, "-o", fresh, *engine, "--no-cache-embeddings")
    assert _alphas(out) == _alphas(fresh)
