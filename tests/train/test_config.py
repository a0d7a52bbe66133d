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
from mamcli.options import flag_of
from mamcli.train.config import PRECISION_CHOICES, RootSpec, TrainConfig


def _config(**changes) -> TrainConfig:
    return TrainConfig([RootSpec(Path("data"))], Path("sam.pth"), Path("run"), **changes)


def test_precision_choices_are_the_inference_ones() -> None:
    assert ("auto", *FLOAT_PRECISIONS) == PRECISION_CHOICES
    for precision in PRECISION_CHOICES:
        assert _config(precision=precision).precision == precision


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"precision": "fp8"},
            "--precision: unknown value 'fp8'; choose one of auto, fp32, bf16, fp16",
        ),
        (
            {"model": "vit_x"},
            f"--model: unknown value 'vit_x'; choose one of {', '.join(BACKBONES)}",
        ),
        ({"batch_size": 0}, "--batch-size: must be at least 1, got 0"),
        ({"steps": 0}, "--steps: must be at least 1, got 0"),
        ({"warmup_steps": -1}, "--warmup-steps: must be at least 0, got -1"),
        ({"val_split": 1.0}, r"--val-split: must be in \[0, 1\), got 1.0"),
        ({"lr": 0.0}, "--lr: must be > 0, got 0.0"),
        ({"log_every": 0}, "--log-every: must be at least 1, got 0"),
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
    assert lines == [
        "mam: error: --precision: unknown value 'fp8'; choose one of auto, fp32, bf16, fp16; "
        "did you mean 'fp32'?"
    ]
    assert not (tmp_path / "run").exists()


def test_cli_defaults_and_help_come_from_the_config() -> None:
    result = CliRunner().invoke(app, ["train", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    for spec in dataclasses.fields(TrainConfig):
        assert spec.metadata["help"].split()[0] in result.output, spec.name
        assert flag_of(spec) in result.output, spec.name
    for panel in ("Data", "Model", "Schedule", "Performance", "Output"):
        assert f"─ {panel} " in result.output
    steps = next(f for f in dataclasses.fields(TrainConfig) if f.name == "steps")
    assert f"[default: {steps.default}]" in result.output
