"""The benchmark's ratios and its text table."""

from __future__ import annotations


def ratios(rows: dict[str, dict]) -> dict[str, float]:
    """Speed-ups against the reference flow (its wall over the row's) and the rerun's share
    of the first whole-process run."""
    found = {}
    if "reference" in rows:
        reference = rows["reference"]["wall_s"]
        for row, result in rows.items():
            if row != "reference":
                found[f"{row}_vs_reference"] = reference / result["wall_s"]
    if "process" in rows and "process-rerun" in rows:
        found["rerun_over_first_run"] = rows["process-rerun"]["wall_s"] / rows["process"]["wall_s"]
    return found


def format_report(report: dict) -> str:
    settings, machine = report["settings"], report["machine"]
    lines = [
        f"mam matte benchmark {report['date']}: {settings['images']} images x "
        f"{settings['prompts']} box prompts, {settings['model']} at {settings['size']} px, "
        f"{'x'.join(map(str, settings['image_size']))} PNGs, {settings['reps']} rep(s)",
        f"{machine['cpu']} ({machine['cpu_count']} CPUs, AMX {machine['amx']}, "
        f"{machine['torch_threads']} torch threads), torch {machine['torch']}, load average "
        f"{machine['loadavg'][0]:.2f}",
        f"NOTE: {report['note']}",
        "matmul rate: "
        + ", ".join(f"{k} {v:.0f} GFLOP/s" for k, v in report["matmul_gflop_per_s"].items())
        + f"; encoder {report['encoder_gflop']:.0f} GFLOP per image",
        "",
        f"{'row':<15}{'wall s':>9}{'encoder s/img':>15}{'of matmul':>11}{'alpha d max/mean':>18}",
    ]
    for row, r in report["rows"].items():
        enc = r.get("encoder_s_per_image")
        frac = r.get("encoder_fraction_of_matmul")
        alpha = r.get("alpha_vs_reference")
        lines.append(
            f"{row:<15}{r['wall_s']:>9.2f}"
            + (f"{enc:>15.2f}" if enc else f"{'-':>15}")
            + (f"{frac:>10.0%} " if frac else f"{'-':>11}")
            + (f"{alpha['max_levels']:>10.0f} / {alpha['mean_levels']:.3f}" if alpha else "")
        )
    lines.append("")
    lines += [f"{name}: {value:.2f}" for name, value in report["ratios"].items()]
    return "\n".join(lines)
