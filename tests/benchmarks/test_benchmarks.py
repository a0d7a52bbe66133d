"""The benchmark scripts run end to end (tiny models) and report what they claim to."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _run(script: str, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / script), *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_bench_matte_reports_every_variant_and_their_alpha_differences() -> None:
    report = json.loads(
        _run(
            "bench_matte.py",
            *("--images", "2", "--prompts", "2", "--model", "tiny", "--size", "256"),
            *("--image-size", "320x240", "--memory-images", "", "--batch-size", "2", "--json"),
            *("--variants", "naive", "flow", "flow+sdpa", "mam-fp32", "mam-bf16"),
        )
    )
    variants = report["variants"]
    assert list(variants) == ["naive", "flow", "flow+sdpa", "mam-fp32", "mam-bf16"]
    for name, result in variants.items():
        # naive encodes per prompt; the others both images in one encoder call
        assert result["stage_calls"]["encoder"] == (4 if name == "naive" else 1)
        assert result["stage_calls"]["write"] == (4 if name == "naive" else 2)
        assert result["images_per_s"] > 0 and result["warm_up_s"] > 0
    # fp32 variants compute the naive flow's alphas, up to rounding at the 8-bit boundary
    for name in ("flow", "flow+sdpa", "mam-fp32"):
        assert variants[name]["alpha_vs_naive"]["max_levels"] <= 1, name
    assert variants["naive"]["alpha_vs_naive"]["max_levels"] == 0
    assert variants["mam-fp32"]["prompts_per_s_vs_previous"] > 0
    assert set(report["matmul_gflop_per_s"]) == {"fp32", "bf16"}


def test_precision_diff_on_the_samples() -> None:
    out = _run("precision_diff.py", "--model", "tiny", "--size", "256")
    lines = out.splitlines()
    assert lines[0].startswith("6 sample images, 8 instances")
    rows = {line.split()[1]: line.split()[2:] for line in lines if line.startswith("fast,")}
    assert set(rows) == {"fp32", "bf16", "fp16", "int8"}
    assert int(rows["fp32"][0]) <= 1  # fp32 fast path: rounding only


def test_bench_precision_compares_every_precision_with_the_roofline() -> None:
    report = json.loads(
        _run("bench_precision.py", "--model", "tiny", "--size", "256", "--reps", "1", "--json")
    )
    rows = report["rows"]
    assert list(rows) == ["reference", "mam-fp32", "mam-bf16", "mam-int8"]
    assert set(report["matmul_gflop_per_s"]) == {"fp32", "bf16", "int8"}
    for row in rows.values():
        assert row["encoder_s"] > 0 and row["m2m_s_per_prompt"] > 0
        assert row["encoder_fraction_of_matmul"] > 0
    assert rows["reference"]["encoder_speedup_vs_reference"] == 1.0
