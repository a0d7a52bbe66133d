"""The shipped code under the benchmark: `run_matte(MatteConfig(...))` in this process, and
`python -m mamcli matte ...` as a whole process (start-up included), first run and a rerun
with other boxes (the embedding cache)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# name -> (precision, InferenceOptions keyword arguments); each flow row adds one change
VARIANTS: dict[str, tuple[str, dict]] = {
    "flow": ("fp32", {"attention": "reference", "fold_m2m": False, "channels_last": False}),
    "flow+sdpa": ("fp32", {"fold_m2m": False, "channels_last": False}),
    "flow+sdpa+m2m": ("fp32", {}),
    "mam-fp32-fold": ("fp32", {"attention": "fold"}),
    "mam-fp32-nocrop": ("fp32", {"crop_m2m": False}),
    "mam-fp32": ("fp32", {}),
    "mam-bf16-unfused": ("bf16", {"fuse_m2m": False}),
    "mam-bf16": ("bf16", {}),
    "mam-fp16": ("fp16", {}),
    "mam-int8": ("int8", {}),
    "mam-compile": ("fp32", {"compile": True}),
}
M2M_BATCH_8 = ("flow", "flow+sdpa", "flow+sdpa+m2m")  # before "one prompt per M2M call"
ENGINE_STAGES = ("decode", "prepare", "encode", "embedding_cache", "matte", "write")


def matte_config(
    inputs: Path,
    out: Path,
    boxes: Path,
    checkpoints: tuple[Path, Path],
    precision: str,
    device: str,
    batch_size: int = 1,
    cache: bool = False,
    **inference: object,
):
    """The MatteConfig of one variant: alphas only (what the reference flow writes)."""
    from mamcli.engines.config import EngineSettings
    from mamcli.matte.config import MatteConfig
    from mamcli.model.config import InferenceOptions
    from mamcli.prompts.sources import PromptSources

    engine = EngineSettings(
        engine="mam",
        sam_checkpoint=checkpoints[0],
        m2m_checkpoint=checkpoints[1],
        precision=precision,
        device=device,
        cache_embeddings=cache,
        inference=InferenceOptions(**inference),
    )
    return MatteConfig(
        inputs=[inputs],
        out_dir=out,
        prompts=PromptSources(boxes_file=boxes),
        engine=engine,
        outputs=("alpha",),
        batch_size=batch_size,
    )


def variant_config(name: str, base):
    """`base` (a MatteConfig from `matte_config`) with the variant's settings."""
    from mamcli.model.config import InferenceOptions

    precision, options = VARIANTS[name]
    options = {**options, "m2m_batch": 8} if name in M2M_BATCH_8 else options
    engine = replace(base.engine, precision=precision, inference=InferenceOptions(**options))
    return replace(base, engine=engine)


def run_shipped(config) -> dict[str, object]:
    """run_matte(config): wall seconds (engine build included) and per-stage sums."""
    from mamcli.matte.run import run_matte

    start = time.perf_counter()
    summary = run_matte(config)
    wall = time.perf_counter() - start
    failed = [record.error for record in summary.records if record.status.value != "ok"]
    if failed:
        raise RuntimeError(f"run_matte failed: {failed[0]}")
    stages = dict.fromkeys(ENGINE_STAGES, 0.0)
    for record in summary.records:
        for stage, seconds in record.timings.items():
            stages[stage] = stages.get(stage, 0.0) + seconds
    return {"wall_s": wall, "stages_s": stages, "images": len(summary.records)}


def process_command(config, precision: str) -> list[str]:
    """`python -m mamcli matte ...` doing what `config` says (default inference options)."""
    engine = config.engine
    return [
        sys.executable, "-m", "mamcli", "matte", str(config.inputs[0]), "-o", str(config.out_dir),
        "--boxes", str(config.prompts.boxes_file), "--engine", "mam", "--precision", precision,
        "--sam-checkpoint", str(engine.sam_checkpoint), "--m2m-checkpoint",
        str(engine.m2m_checkpoint), "--device", engine.device, "--outputs", "alpha",
        "--batch-size", str(config.batch_size),
    ]  # fmt: skip


def time_process(command: list[str]) -> float:
    """Wall seconds of a whole `mam` process, interpreter start-up included."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command[:4])} failed:\n{done.stderr[-2000:]}")
    return wall
