"""The training log: rows of losses and validation metrics, kept as a CSV (and TensorBoard)."""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path

from mamcli.runtime.atomic import atomic_write_text

FIELDS = (
    "step",
    "loss",
    "loss_os1",
    "loss_os4",
    "loss_os8",
    "lr",
    "grad_norm",
    "val_sad",
    "val_mse",
    "baseline_sad",
)


class TrainLog:
    """Rows of numbers by step; `save` rewrites `log.csv` atomically.

    On resume the rows after the resumed step are dropped, so the log matches the run.
    TensorBoard scalars are written too when the `tensorboard` package is installed.
    """

    def __init__(self, path: Path, resume_step: int | None = None) -> None:
        self.path = path
        self.rows: list[dict[str, float]] = []
        if resume_step is not None and path.is_file():
            with path.open(newline="") as handle:
                for row in csv.DictReader(handle):
                    values = {k: float(v) for k, v in row.items() if k in FIELDS and v != ""}
                    if values.get("step", math.inf) <= resume_step:
                        self.rows.append(values)
        self.writer = _tensorboard(path.parent / "tensorboard")

    def add(self, step: int, **values: float) -> None:
        self.rows.append({"step": step, **values})
        if self.writer is not None:
            for name, value in values.items():
                self.writer.add_scalar(name, value, step)

    def series(self, name: str) -> tuple[list[float], list[float]]:
        """(steps, values) of the rows that have `name`."""
        rows = [row for row in self.rows if name in row]
        return [row["step"] for row in rows], [row[name] for row in rows]

    def save(self) -> None:
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=FIELDS, lineterminator="\n")
        writer.writeheader()
        for row in self.rows:
            writer.writerow({k: (int(v) if k == "step" else f"{v:.6g}") for k, v in row.items()})
        atomic_write_text(self.path, buffer.getvalue())
        if self.writer is not None:
            self.writer.flush()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def _tensorboard(folder: Path):
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        return None
    return SummaryWriter(str(folder))
