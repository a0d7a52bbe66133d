"""The loss-curve PNG: training loss and validation SAD by step.

Drawn with matplotlib when installed (the `train` extra), else with OpenCV, so a run
always ends with a picture.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from mamcli.runtime.atomic import atomic_write_bytes

Series = tuple[Sequence[float], Sequence[float]]
WIDTH, HEIGHT, MARGIN = 800, 300, 50


def plot_curve(path: Path, loss: Series, val_sad: Series, baseline_sad: float | None) -> None:
    """Write a PNG with the loss (left) and validation SAD (right) against the step."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        from matplotlib import pyplot as plt
    except ImportError:
        png = _draw_cv2(loss, val_sad, baseline_sad)
    else:
        png = _draw_matplotlib(plt, loss, val_sad, baseline_sad)
    atomic_write_bytes(path, png)


def _draw_matplotlib(plt, loss: Series, val_sad: Series, baseline_sad: float | None) -> bytes:
    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 3.5))
    left.plot(*loss)
    left.set(xlabel="step", ylabel="training loss", yscale="log")
    right.plot(*val_sad, marker="o", label="M2M")
    if baseline_sad is not None:
        right.axhline(baseline_sad, color="grey", linestyle="--", label="SAM mask only")
    right.set(xlabel="step", ylabel="validation SAD")
    right.legend()
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    plt.close(figure)
    return buffer.getvalue()


def _panel(title: str, series: Series, reference: float | None) -> np.ndarray:
    """One white panel with a polyline of the series (and a grey reference line)."""
    canvas = np.full((HEIGHT, WIDTH // 2, 3), 255, np.uint8)
    cv2.putText(canvas, title, (MARGIN, 25), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1)
    xs, ys = np.asarray(series[0], float), np.asarray(series[1], float)
    if len(xs) == 0:
        return canvas
    values = ys if reference is None else np.append(ys, reference)
    low, high = values.min(), values.max()
    pad = 0.05 * (high - low)  # keep lines off the frame
    span_x, span_y = max(xs.max() - xs.min(), 1e-12), max(high - low + 2 * pad, 1e-12)
    low -= pad
    box_w, box_h = WIDTH // 2 - 2 * MARGIN, HEIGHT - 2 * MARGIN

    def to_pixels(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        px = MARGIN + (x - xs.min()) / span_x * box_w
        py = HEIGHT - MARGIN - (y - low) / span_y * box_h
        return np.stack([px, py], axis=1).round().astype(np.int32)

    cv2.rectangle(canvas, (MARGIN, MARGIN), (MARGIN + box_w, MARGIN + box_h), (0, 0, 0), 1)
    if reference is not None:
        line = to_pixels(xs[[0, -1]], np.array([reference, reference]))
        cv2.polylines(canvas, [line], False, (150, 150, 150), 1)
    cv2.polylines(canvas, [to_pixels(xs, ys)], False, (200, 80, 0), 2)
    for label, y in ((f"{low + span_y:.4g}", MARGIN), (f"{low:.4g}", HEIGHT - MARGIN)):
        cv2.putText(canvas, label, (2, y), cv2.FONT_HERSHEY_SIMPLEX, 0.35, (0, 0, 0), 1)
    steps = f"step {xs.min():.0f} .. {xs.max():.0f}"
    cv2.putText(canvas, steps, (MARGIN, HEIGHT - 15), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1)
    return canvas


def _draw_cv2(loss: Series, val_sad: Series, baseline_sad: float | None) -> bytes:
    image = np.hstack(
        [
            _panel("training loss", loss, None),
            _panel("validation SAD (grey: SAM mask only)", val_sad, baseline_sad),
        ]
    )
    ok, encoded = cv2.imencode(".png", image)
    if not ok:
        raise RuntimeError("OpenCV could not encode the loss curve")
    return encoded.tobytes()
