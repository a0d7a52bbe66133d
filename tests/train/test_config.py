"""TrainConfig is the one place of every option: validation, choices, and the CLI's defaults."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mamcli.cli import app
from mamcli.errors import UsageError
from mamcli.model.config import FLOAT_PRECISIONS
from mamcli.model.sam import BACKBONES
from mamcli.train.config import PRECISION_CHOICES, RootSpec, TrainConfig, default


def _config(**changes) -> TrainConfig:
    return TrainConfig([RootSpec(Path("data"))], Path("sam.pth"), Path("run"), **changes)


def test_precision_choices_are_the_inference_ones() -> None:
    assert ("auto", *FLOAT_PRECISIONS) == PRECISION_CHOICES
    for precision in PRECISION_CHOICES:
        assert _config(precision=precision).precision == precision


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"precision": "fp8"}, "--precision 'fp8': choose one of auto, fp32, bf16, fp16"),
        ({"model": "vit_x"}, f"--model 'vit_x': choose one of {', '.join(BACKBONES)}"),
        ({"batch_size": 0}, "--batch-size 0: must be >= 1"),
        ({"steps": 0}, "--steps 0: must be >= 1"),
        ({"warmup_steps": -1}, "--warmup-steps -1: must be >= 0"),
        ({"val_split": 1.0}, r"--val-split 1.0: must be in \[0, 1\)"),
        ({"lr": 0.0}, "--lr 0.0: must be > 0"),
        ({"log_every": 0}, "--log-every 0: must be >= 1"),
    ],
)
def test_a_bad_option_is_one_usage_error_naming_the_flag(changes: dict, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        _config(**changes)


def test_bad_precision_on_the_command_line_exits_2_with_one_line(tmp_path: Path) -> None:
    args = ["train", "--data-root", str(tmp_path), "--sam-checkpoint", str(tmp_path / "s.pth")]
    result = CliRunner().invoke(app, [*args, "-o", str(tmp_path / "run"), "--precision", "fp8"])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert lines == ["mam: error: --precision 'fp8': choose one of auto, fp32, bf16, fp16"]
    assert not (tmp_path / "run").exists()


def test_cli_defaults_and_help_come_from_the_config() -> None:
    result = CliRunner().invoke(app, ["train", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    for spec in dataclasses.fields(TrainConfig):
        assert spec.metadata["help"].split()[0] in result.output, spec.name
        assert spec.metadata["flags"][-1].split("/")[0] in result.output, spec.name
    for panel in ("Data", "Model", "Schedule", "Performance", "Output"):
        assert f"─ {panel} " in result.output
    assert f"[default: {default('steps')}]" in result.output
