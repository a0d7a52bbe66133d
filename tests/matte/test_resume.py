"""Resume is truthful: an image is `cached` only when nothing that changes its outputs
changed (options, checkpoint content, its prompts, the file), and a recomputed image is
byte-identical to a fresh run. Real `mam` processes on real files."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from PIL import Image

from mamcli.cli.options import build_config, config_params
from mamcli.matte.config import MatteConfig
from mamcli.options import Resume, choices_of, declared_fields
from tests.helpers import make_random_m2m, synthetic_photo

NAMES = ["a.png", "b.png"]
BOXES_A = {"a.png": [[30, 20, 130, 100]], "b.png": [[40, 30, 140, 110]]}
BOXES_B = {"a.png": [[20, 10, 120, 90]], "b.png": [[40, 30, 140, 110]]}


def _photos(root: Path) -> Path:
    folder = root / "photos"
    folder.mkdir()
    for seed, name in enumerate(NAMES):
        Image.fromarray(synthetic_photo(120, 160, seed=seed)).save(folder / name)
    return folder


def _write(path: Path, doc: object) -> Path:
    path.write_text(json.dumps(doc))
    return path


def _mam(*args: object) -> dict:
    """`mam matte ARGS --json` in a real process; its JSON summary."""
    done = subprocess.run(
        [sys.executable, "-m", "mamcli", "matte", *map(str, args), "--json"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def _counts(summary: dict) -> tuple[int, int]:
    return summary["ok"], summary["cached"]


def _pngs(out: Path) -> dict[str, bytes]:
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*.png"))}


@pytest.fixture()
def base_args(tiny_sam_checkpoint: Path, m2m_checkpoint: Path) -> list[str]:
    return [
        "--engine", "mam", "--device", "cpu", "--precision", "fp32", "--outputs", "alpha,mask",
        "--sam-checkpoint", str(tiny_sam_checkpoint), "--m2m-checkpoint", str(m2m_checkpoint),
    ]  # fmt: skip


def test_every_field_is_declared_hashed_or_speed_only() -> None:
    """The guard: a field nobody decided about (hashed or not) fails here."""

    def walk(config_type: type) -> list[tuple[str, Resume]]:
        found = []
        defaults = config_type()
        for item in declared_fields(config_type):
            kind = item.metadata.get("resume")
            assert isinstance(kind, Resume), f"{config_type.__name__}.{item.name} undeclared"
            if kind == Resume.GROUP:
                found += walk(type(getattr(defaults, item.name)))
            elif kind == Resume.HASHED and dataclasses.is_dataclass(getattr(defaults, item.name)):
                found.append((item.name, kind))  # hashed whole, every field of it
            else:
                found.append((item.name, kind))
        return found

    declared = dict(walk(MatteConfig))
    assert declared["background"] == Resume.HASHED and declared["batch_size"] == Resume.SPEED
    flags = [p.parameter.default.param_decls[0] for p in config_params(MatteConfig)]
    assert len(flags) == len(set(flags)), "two options share a flag"


def _other_value(param, default):
    """A value different from the default, of the right kind, for the option `param`."""
    meta = _field(param).metadata
    choices = choices_of(_field(param))
    if meta.get("parse") is not None:
        return {"outputs": "alpha", "widths": "12,20,10", "devices": "cpu,cpu"}[param.path[-1]]
    if choices:
        return next(c for c in reversed(choices) if str(c) != str(default))
    if isinstance(default, bool):
        return not default
    if isinstance(default, (int, float)) and not isinstance(default, bool):
        return default + 1 if isinstance(default, int) else min(1.0, default + 0.1)
    return {"background": "black"}.get(param.name.split("__")[-1], "7")


def _field(param) -> dataclasses.Field:
    config_type: type = MatteConfig
    for name in param.path[:-1]:
        config_type = type(getattr(config_type(), name))
    return next(f for f in dataclasses.fields(config_type) if f.name == param.path[-1])


def test_each_output_option_changes_the_fingerprint_and_speed_options_do_not() -> None:
    params = config_params(MatteConfig)
    defaults = {p.name: p.parameter.default.default for p in params}
    defaults["out_dir"] = Path("out")  # required on the command line
    base = build_config(MatteConfig, params, defaults).settings()
    for param in params:
        kind = _field(param).metadata["resume"]
        changed = {**defaults, param.name: _other_value(param, defaults[param.name])}
        settings = build_config(MatteConfig, params, changed).settings()
        if kind == Resume.HASHED:
            assert settings != base, f"{param.name} changes outputs but is not hashed"
        else:
            assert settings == base, f"{param.name} is {kind.value} but changes the hash"


def test_changed_prompts_and_checkpoints_are_recomputed_and_match_a_fresh_run(
    tmp_path: Path, base_args: list[str], m2m_checkpoint: Path
) -> None:
    photos = _photos(tmp_path)
    boxes_a = _write(tmp_path / "a.json", BOXES_A)
    boxes_b = _write(tmp_path / "b.json", BOXES_B)
    out = tmp_path / "out"
    assert _counts(_mam(photos, "-o", out, "--boxes", boxes_a, *base_args)) == (2, 0)
    assert _counts(_mam(photos, "-o", out, "--boxes", boxes_a, *base_args)) == (0, 2)
    # speed-only options keep the cache
    speed = ["--batch-size", "2", "--workers", "1", "--device", "cpu"]
    assert _counts(_mam(photos, "-o", out, "--boxes", boxes_a, *base_args, *speed)) == (0, 2)
    # another --boxes file: only the image whose entry changed is redone
    assert _counts(_mam(photos, "-o", out, "--boxes", boxes_b, *base_args)) == (1, 1)
    fresh = tmp_path / "fresh"
    _mam(photos, "-o", fresh, "--boxes", boxes_b, *base_args)
    assert _pngs(out) == _pngs(fresh)
    # an output option redoes everything
    maskguide = [*base_args, "--refine", "maskguide"]
    assert _counts(_mam(photos, "-o", out, "--boxes", boxes_b, *maskguide)) == (2, 0)
    assert _counts(_mam(photos, "-o", out, "--boxes", boxes_b, *base_args)) == (2, 0)
    # the M2M checkpoint rewritten at the same path: redone, like a fresh run
    m2m = tmp_path / "m2m.pth"
    m2m.write_bytes(m2m_checkpoint.read_bytes())
    args = [a if a != str(m2m_checkpoint) else str(m2m) for a in base_args]
    assert _counts(_mam(photos, "-o", out, "--boxes", boxes_b, *args)) == (0, 2)  # same content
    torch.save({"state_dict": make_random_m2m(seed=3).state_dict()}, m2m)
    assert _counts(_mam(photos, "-o", out, "--boxes", boxes_b, *args)) == (2, 0)
    fresh2 = tmp_path / "fresh2"
    _mam(photos, "-o", fresh2, "--boxes", boxes_b, *args)
    assert _pngs(out) == _pngs(fresh2) != _pngs(fresh)


def test_a_new_sidecar_and_coco_filters_are_noticed(tmp_path: Path, base_args: list[str]) -> None:
    photos = _photos(tmp_path)
    out = tmp_path / "out"
    no_auto = [photos, "-o", out, *base_args, "--auto", "none"]
    assert _mam(*no_auto)["skipped"] == 2
    _write(photos / "b.json", [[10, 10, 90, 80]])
    assert _counts(_mam(*no_auto)) == (1, 0)
    assert _counts(_mam(*no_auto)) == (0, 1)
    _write(photos / "b.json", [[12, 10, 90, 80]])  # the sidecar edited
    assert _counts(_mam(*no_auto)) == (1, 0)
    (photos / "b.json").unlink()
    coco = {
        "images": [{"id": 1, "file_name": "a.png"}, {"id": 2, "file_name": "b.png"}],
        "annotations": [
            {"id": 1, "image_id": 1, "bbox": [30, 20, 100, 80], "category_id": 1, "score": 0.9},
            {"id": 2, "image_id": 1, "bbox": [5, 5, 40, 40], "category_id": 2, "score": 0.4},
            {"id": 3, "image_id": 2, "bbox": [40, 30, 100, 80], "category_id": 1, "score": 0.9},
        ],
        "categories": [{"id": 1, "name": "cat"}, {"id": 2, "name": "dog"}],
    }
    coco_file = _write(tmp_path / "coco.json", coco)
    with_coco = [photos, "-o", out, "--coco", coco_file, *base_args]
    assert _counts(_mam(*with_coco)) == (2, 0)
    assert _counts(_mam(*with_coco)) == (0, 2)
    assert _counts(_mam(*with_coco, "--min-score", "0.5")) == (2, 0)
    assert _counts(_mam(*with_coco, "--min-score", "0.5", "--category", "cat")) == (2, 0)


def test_the_cli_and_the_library_give_byte_identical_outputs(
    tmp_path: Path, base_args: list[str], tiny_sam_checkpoint: Path, m2m_checkpoint: Path
) -> None:
    from mamcli.engines.config import EngineSettings
    from mamcli.matte.run import run_matte
    from mamcli.prompts.sources import PromptSources

    photos = _photos(tmp_path)
    boxes = _write(tmp_path / "boxes.json", BOXES_A)
    _mam(photos, "-o", tmp_path / "cli", "--boxes", boxes, *base_args)
    config = MatteConfig(
        inputs=[photos],
        out_dir=tmp_path / "lib",
        prompts=PromptSources(boxes_file=boxes),
        engine=EngineSettings(
            engine="mam",
            device="cpu",
            precision="fp32",
            sam_checkpoint=tiny_sam_checkpoint,
            m2m_checkpoint=m2m_checkpoint,
        ),
        outputs=("alpha", "mask"),
    )
    summary = run_matte(config)
    assert summary.count("ok") == 2
    assert _pngs(tmp_path / "cli") == _pngs(tmp_path / "lib") != {}


def test_outputs_of_code_with_other_arithmetic_are_recomputed(
    tmp_path: Path, base_args: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Records written before a change to the networks' numbers (NUMERICS_VERSION) are not
    resumed: the outputs are computed again."""
    from typer.testing import CliRunner

    from mamcli.cli import app
    from mamcli.engines import mam as mam_engine

    photos = _photos(tmp_path)
    boxes = _write(tmp_path / "a.json", BOXES_A)
    out = tmp_path / "out"
    args = ["matte", str(photos), "-o", str(out), "--boxes", str(boxes), *base_args, "--json"]

    def in_process() -> tuple[int, int]:
        done = CliRunner().invoke(app, args)
        assert done.exit_code == 0, done.output
        return _counts(json.loads(done.stdout))

    assert _counts(_mam(*args[1:-1])) == (2, 0)
    assert in_process() == (0, 2)
    monkeypatch.setattr(mam_engine, "NUMERICS_VERSION", mam_engine.NUMERICS_VERSION + 1)
    assert in_process() == (2, 0)
