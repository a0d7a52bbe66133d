"""Training end to end: overfitting, checkpoints that inference loads, resume, torchrun."""

from __future__ import annotations

import csv
import dataclasses
import os
import signal
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, default_collate
from typer.testing import CliRunner

from mamcli.cli import app
from mamcli.eval.metrics import matting_errors, to_report_units
from mamcli.hub.checkpoint import load_state_dict, save_checkpoint
from mamcli.imaging.write import alpha_to_uint
from mamcli.model.api import MattingAnything, load_m2m
from mamcli.model.devices import resolve_precision
from mamcli.model.m2m import M2M
from mamcli.model.sam import build_sam
from mamcli.runtime.distributed import Rank
from mamcli.train.config import RootSpec, TrainConfig
from mamcli.train.data import MattingDataset, scan_root
from mamcli.train.loop import FrozenSam, Trainer, train
from mamcli.train.schedule import lr_factor
from mamcli.train.validation import validate
from tests.helpers import TINY_SAM
from tests.train.test_data import make_dataset

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def sam64(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random SAM at 64 px (embeddings 4 x 4): M2M then trains in a fraction of a second."""
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("weights") / "sam64.pth"
    torch.save(build_sam(dataclasses.replace(TINY_SAM, img_size=64)).state_dict(), path)
    return path


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_dataset(tmp_path_factory.mktemp("data") / "root", count=6)


def _args(data: Path, sam: Path, out: Path, *extra: str) -> list[str]:
    return [
        "train",
        "--data-root",
        str(data),
        "--sam-checkpoint",
        str(sam),
        "-o",
        str(out),
        "--device",
        "cpu",
        "--batch-size",
        "2",
        "--workers",
        "0",
        *extra,
    ]


def _log(run: Path) -> list[dict[str, str]]:
    with (run / "log.csv").open(newline="") as handle:
        return list(csv.DictReader(handle))


def test_thirty_steps_on_a_fixed_batch_halve_the_loss(sam64: Path, data: Path) -> None:
    torch.manual_seed(0)
    config = TrainConfig([RootSpec(data)], sam64, Path("unused"), steps=30, warmup_steps=30)
    sam = FrozenSam(sam64, "vit_b", torch.device("cpu"), "fp32")
    dataset = MattingDataset(scan_root(data)[:2], 64, 64, augment=False)
    batch = default_collate([dataset[0], dataset[1]])
    trainer = Trainer(config, sam, Rank(), torch.device("cpu"))
    losses = [trainer.train_step(batch).terms.total.item() for _ in range(30)]
    assert trainer.step == 30
    assert losses[-1] < 0.5 * losses[0], losses


def test_cli_run_writes_checkpoints_that_inference_loads_strictly(
    sam64: Path, data: Path, tmp_path: Path
) -> None:
    run = tmp_path / "run"
    args = _args(data, sam64, run, "--steps", "4", "--warmup-steps", "2")
    args += ["--val-every", "2", "--log-every", "2"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "validation SAD" in result.output
    saved = torch.load(run / "last.pth", map_location="cpu", weights_only=True)
    assert set(saved) == {"state_dict", "iter", "loss"} and saved["iter"] == 4
    assert isinstance(saved["loss"], float)
    model = M2M()
    model.load_state_dict(load_state_dict(run / "last.pth", what="M2M checkpoint"), strict=True)
    assert load_m2m(run / "best.pth").training is False  # what `mam matte` loads
    rows = _log(run)
    assert [r["step"] for r in rows if r["loss"]] == ["2", "4"]
    val_rows = [r for r in rows if r["val_sad"]]
    assert [r["step"] for r in val_rows] == ["2", "4"]
    assert all(float(r["val_sad"]) > 0 and float(r["baseline_sad"]) > 0 for r in val_rows)
    curve = cv2.imread(str(run / "curve.png"))
    assert curve is not None and curve.shape[1] > curve.shape[0]


def test_bad_data_root_is_one_clear_error(sam64: Path, tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    result = CliRunner().invoke(app, _args(tmp_path / "empty", sam64, tmp_path / "run"))
    assert result.exit_code == 2
    assert "empty: expected the layout" in result.output


def test_resume_after_a_killed_run_continues_step_and_lr(
    sam64: Path, data: Path, tmp_path: Path
) -> None:
    run, steps, warmup = tmp_path / "run", 12, 3
    args = _args(data, sam64, run, "--steps", str(steps), "--warmup-steps", str(warmup))
    args += ["--checkpoint-every", "2", "--val-every", "100", "--log-every", "1"]
    process = subprocess.Popen(
        [sys.executable, "-m", "mamcli", *args, "--workers", "1"],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**os.environ, "MAM_TEST_PAUSE_AFTER": "4"},  # pauses after step 4's checkpoint
    )
    for line in process.stderr:
        if line.decode().startswith("mam: test pause after 4 steps"):
            break
    else:
        raise AssertionError(f"the run ended without pausing (exit {process.wait()})")
    process.send_signal(signal.SIGKILL)
    assert process.wait() == -signal.SIGKILL, process.stderr.read().decode()
    saved = torch.load(run / "resume.pth", map_location="cpu", weights_only=True)["iter"]
    assert saved == 4

    result = CliRunner().invoke(app, [*args, "--resume"])
    assert result.exit_code == 0, result.output
    state = torch.load(run / "resume.pth", map_location="cpu", weights_only=True)
    assert state["iter"] == steps
    adam_steps = {int(s["step"]) for s in state["optimizer"]["state"].values()}
    assert adam_steps == {steps}  # the optimiser state continued too
    rows = [r for r in _log(run) if r["loss"]]
    assert [int(r["step"]) for r in rows] == list(range(1, steps + 1))
    for row in rows:  # one schedule across the interruption
        expected = 1e-3 * lr_factor(int(row["step"]) - 1, warmup, steps)
        assert float(row["lr"]) == pytest.approx(expected, rel=1e-5), row["step"]


def test_resume_without_a_previous_run_is_refused(sam64: Path, data: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(app, [*_args(data, sam64, tmp_path / "run"), "--resume"])
    assert result.exit_code == 2 and "no resume file" in result.output


def test_torchrun_two_cpu_processes_train_one_checkpoint(
    sam64: Path, data: Path, tmp_path: Path
) -> None:
    run = tmp_path / "run"
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2"]
    command += ["-m", "mamcli", *_args(data, sam64, run, "--steps", "3", "--warmup-steps", "1")]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    assert sorted(p.name for p in run.iterdir()) == [
        "best.pth",
        "curve.png",
        "last.pth",
        "log.csv",
        "resume.pth",
    ]
    saved = torch.load(run / "last.pth", map_location="cpu", weights_only=True)
    assert saved["iter"] == 3
    M2M().load_state_dict(saved["state_dict"], strict=True)
    # rank 0 reports, the other rank stays quiet
    assert done.stdout.count("last.pth") == 1


def test_frozen_sam_runs_the_fused_attention(tiny_sam_checkpoint: Path) -> None:
    from mamcli.model.attention import SdpaAttention
    from mamcli.model.sam import load_sam

    frozen = FrozenSam(tiny_sam_checkpoint, "vit_b", torch.device("cpu"), "fp32")
    blocks = frozen.stage.sam.image_encoder.blocks
    assert all(type(block.attn) is SdpaAttention for block in blocks)
    images = torch.randint(0, 256, (2, 3, 256, 256), dtype=torch.uint8)
    boxes = torch.tensor([[10.0, 20.0, 200.0, 220.0], [0.0, 0.0, 128.0, 128.0]])
    _, embeddings, _, _ = frozen(images, boxes)
    reference = load_sam(tiny_sam_checkpoint, "vit_b")  # segment-anything's own attention
    with torch.no_grad():
        x = torch.stack([reference.preprocess(image.float()) for image in images])
        torch.testing.assert_close(embeddings, reference.image_encoder(x), atol=1e-4, rtol=1e-4)


def test_validation_sad_is_what_matting_anything_gives(
    sam64: Path, data: Path, tmp_path: Path
) -> None:
    """validate() on the training M2M equals `MattingAnything` loading the same weights
    from checkpoint files, image by image through its public predict()."""
    torch.manual_seed(0)
    config = TrainConfig([RootSpec(data)], sam64, tmp_path, steps=4, warmup_steps=2)
    sam = FrozenSam(sam64, "vit_b", torch.device("cpu"), "fp32")
    dataset = MattingDataset(scan_root(data), 64, 64, augment=False)
    trainer = Trainer(config, sam, Rank(), torch.device("cpu"))
    for _ in range(2):  # trained weights, and a training-mode module as in the loop
        trainer.train_step(default_collate([dataset[0], dataset[1]]))
    save_checkpoint(tmp_path / "m2m.pth", trainer.m2m.state_dict())
    loader = DataLoader(dataset, batch_size=2)
    got = validate(trainer.m2m, sam.stage.sam, loader, torch.device("cpu"), "fp32")
    assert trainer.m2m.training

    mam = MattingAnything.from_checkpoints(sam64, tmp_path / "m2m.pth", precision="fp32")
    sad, mse, baseline = [], [], []
    for item in dataset:
        mam.set_image(item["image"].permute(1, 2, 0).numpy())
        matte = mam.predict(boxes=[item["box"].tolist()])[0]
        gt = alpha_to_uint(item["alpha"][0].numpy())
        errors = to_report_units(
            matting_errors(alpha_to_uint(matte.alpha), gt, {"all": None})["all"]
        )
        sad.append(errors["sad"])
        mse.append(errors["mse"])
        mask = to_report_units(matting_errors(alpha_to_uint(matte.mask), gt, {"all": None})["all"])
        baseline.append(mask["sad"])
    assert got["val_sad"] == pytest.approx(np.mean(sad), rel=1e-6)
    assert got["val_mse"] == pytest.approx(np.mean(mse), rel=1e-6)
    assert got["baseline_sad"] == pytest.approx(np.mean(baseline), rel=1e-6)
    assert got["val_sad"] != pytest.approx(got["baseline_sad"])  # M2M changed the alpha


def test_train_reports_every_step_through_on_step(sam64: Path, data: Path, tmp_path: Path) -> None:
    calls = []
    config = TrainConfig(
        [RootSpec(data)],
        sam64,
        tmp_path / "run",
        steps=3,
        warmup_steps=1,
        batch_size=2,
        device="cpu",
        num_workers=0,
        val_split=0.0,
    )
    summary = train(config, on_step=lambda *args: calls.append(args))
    assert [(step, total) for step, total, _ in calls] == [(1, 3), (2, 3), (3, 3)]
    assert all(np.isfinite(loss) and loss > 0 for _, _, loss in calls)
    assert summary.precision == resolve_precision("auto", torch.device("cpu"))
    assert summary.val_sad is None  # nothing held out


def test_plain_progress_lines_every_log_every_steps(
    sam64: Path, data: Path, tmp_path: Path
) -> None:
    args = _args(data, sam64, tmp_path / "run", "--steps", "4", "--warmup-steps", "1")
    result = CliRunner().invoke(app, [*args, "--log-every", "2", "--val-split", "0"])
    assert result.exit_code == 0, result.output
    lines = [line for line in result.output.splitlines() if line.startswith("step ")]
    assert [line.split(":")[0] for line in lines] == ["step 2/4", "step 4/4"]
