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


def test_bench_matte_times_the_shipped_code_against_the_reference_flow() -> None:
    report = json.loads(
        _run(
            "bench_matte.py",
            *("--images", "2", "--prompts", "2", "--model", "tiny", "--size", "256"),
            *("--image-size", "160x120", "--process-precision", "fp32", "--json"),
            *("--rows", "reference", "flow", "mam-fp32", "process", "process-int8"),
            "process-rerun",
        )
    )
    rows = report["rows"]
    assert list(rows) == [
        "reference",
        "flow",
        "mam-fp32",
        "process",
        "process-int8",
        "process-rerun",
    ]
    # the reference flow encodes once per prompt; run_matte once per image
    assert rows["reference"]["stage_calls"]["encoder"] == 4
    assert rows["mam-fp32"]["images"] == 2 and rows["mam-fp32"]["stages_s"]["encode"] > 0
    # fp32 rows compute the reference flow's alphas, up to rounding at the 8-bit boundary
    for name in ("flow", "mam-fp32"):
        assert rows[name]["alpha_vs_reference"]["max_levels"] <= 1, name
    ratios = report["ratios"]
    assert {"mam-fp32_vs_reference", "process_vs_reference", "rerun_over_first_run"} <= set(ratios)
    assert all(value > 0 for value in ratios.values())
    assert rows["process-int8"]["wall_s"] > 0
    assert set(report["matmul_gflop_per_s"]) == {"fp32", "int8"}  # only the rows' precisions


def test_precision_diff_on_the_samples() -> None:
    out = _run("precision_diff.py", "--model", "tiny", "--size", "256")
    lines = out.splitlines()
    assert lines[0].startswith("6 sample images, 8 instances")
    rows = {line.split()[1]: line.split()[2:] for line in lines if line.startswith("fast,")}
    assert set(rows) == {"fp32", "bf16", "fp16", "int8"}
    assert int(rows["fp32"][0]) <= 1  # fp32 fast path: rounding only


def test_bench_precision_compares_every_precision_with_the_roofline() -> None:
    report = json.loads(
        _run(
            "bench_precision.py",
            *("--model", "tiny", "--size", "256", "--reps", "1", "--object-sides", "0.5"),
            "--json",
        )
    )
    rows = report["rows"]
    assert list(rows) == [
        "reference",
        "mam-fp32",
        "mam-fp32-fold",
        "mam-bf16-unfused",
        "mam-bf16",
        "mam-bf16-fold",
        "mam-bf16-scores",
        "mam-int8",
    ]
    assert set(report["matmul_gflop_per_s"]) == {"fp32", "bf16", "int8"}
    for row in rows.values():
        assert row["encoder_s"] > 0 and row["m2m_s_per_prompt"] > 0
        assert row["encoder_fraction_of_matmul"] > 0
        assert row["m2m_window_s"]["0.5"] > 0
    assert rows["reference"]["encoder_speedup_vs_reference"] == 1.0


def test_bench_memory_reports_the_peak_of_each_count_in_a_fresh_process() -> None:
    args = ("--counts", "1,3", "--size", "256", "--image-size", "160x120", "--json")
    report = json.loads(_run("bench_memory.py", *args))
    assert [run["images"] for run in report["runs"]] == [1, 3]
    assert all(run["peak_rss_mib"] > 50 and run["wall_s"] > 0 for run in report["runs"])
