"""Matting metrics and IMQ pinned on small hand-computed cases."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mamcli.eval.imq import ImqCounts, instance_counts, match_instances
from mamcli.eval.metrics import (
    _CONN_MIN_UINT8,
    CONN_LEVELS,
    METRICS,
    REPORT_SCALE,
    conn_error_map,
    grad_error_map,
    gradient_magnitude,
    largest_component,
    matting_errors,
    to_report_units,
)
from mamcli.imaging.trimap import generate_trimap, unknown_region

WHOLE = {"whole": None}


def conn(pred: list[list[int]], gt: list[list[int]]) -> float:
    p, g = np.array(pred, np.uint8), np.array(gt, np.uint8)
    return matting_errors(p, g, WHOLE)["whole"]["conn"]


# --- SAD, MSE, MAD --------------------------------------------------------------------------


def test_sad_mse_mad_whole_and_trimap_region():
    pred = np.array([[0, 255], [51, 0]], np.uint8)
    gt = np.zeros((2, 2), np.uint8)
    trimap = np.array([[128, 0], [128, 255]], np.uint8)
    result = matting_errors(pred, gt, {"whole": None, "trimap": unknown_region(trimap)})
    # whole: |p - g| / 255 = 1 and 0.2 -> SAD 1.2, MSE (1 + 0.04) / 4, MAD 1.2 / 4
    assert result["whole"]["sad"] == pytest.approx(1.2, rel=1e-6)
    assert result["whole"]["mse"] == pytest.approx(0.26, rel=1e-6)
    assert result["whole"]["mad"] == pytest.approx(0.3, rel=1e-6)
    # trimap unknown = (0, 0) and (1, 0): errors 0 and 0.2
    assert result["trimap"]["sad"] == pytest.approx(0.2, rel=1e-6)
    assert result["trimap"]["mse"] == pytest.approx(0.02, rel=1e-6)
    assert result["trimap"]["mad"] == pytest.approx(0.1, rel=1e-6)


def test_empty_region_gives_nan_mse_and_zero_sad():
    pred = np.full((3, 3), 10, np.uint8)
    result = matting_errors(pred, np.zeros_like(pred), {"r": np.zeros((3, 3), bool)})["r"]
    assert result["sad"] == 0 and math.isnan(result["mse"]) and math.isnan(result["mad"])


def test_report_units_are_the_papers():
    scaled = to_report_units({"sad": 17300.0, "mse": 0.0035, "mad": 0.0101, "grad": 10650.0})
    assert scaled == pytest.approx({"sad": 17.3, "mse": 3.5, "mad": 10.1, "grad": 10.65})


def test_size_mismatch_is_an_error():
    with pytest.raises(ValueError, match="size mismatch"):
        matting_errors(np.zeros((2, 3), np.uint8), np.zeros((3, 2), np.uint8), WHOLE)


# --- Grad ------------------------------------------------------------------------------------


def reference_hx(sigma: float = 1.4) -> np.ndarray:
    """hx(i, j) = G(i) G'(j), i, j in -4..4, divided by its L2 norm (docs/eval.md)."""

    def gauss(x: float) -> float:
        return math.exp(-(x**2) / (2 * sigma**2)) / (sigma * math.sqrt(2 * math.pi))

    hx = np.array(
        [[gauss(i) * (-j * gauss(j) / sigma**2) for j in range(-4, 5)] for i in range(-4, 5)]
    )
    return hx / math.sqrt((hx**2).sum())


def reference_gradient(image: np.ndarray) -> np.ndarray:
    """Naive true 2-D convolution with replicated borders, pixel by pixel."""
    hx = reference_hx()
    hy = hx.T
    padded = np.pad(image.astype(np.float64), 4, mode="edge")
    h, w = image.shape
    gx, gy = np.zeros((h, w)), np.zeros((h, w))
    for y in range(h):
        for x in range(w):
            for i in range(-4, 5):
                for j in range(-4, 5):
                    value = padded[y + 4 - i, x + 4 - j]  # convolution: kernel flipped
                    gx[y, x] += hx[i + 4, j + 4] * value
                    gy[y, x] += hy[i + 4, j + 4] * value
    return np.sqrt(gx**2 + gy**2)


def test_gradient_is_true_convolution_with_replicated_borders():
    image = np.random.default_rng(1).random((7, 10))
    image[:, 6:] += 2.0  # an edge near the border
    np.testing.assert_allclose(gradient_magnitude(image), reference_gradient(image), atol=1e-12)


def test_grad_uses_min_max_normalisation_per_image():
    edge = np.zeros((6, 8), np.uint8)
    edge[:, 4:] = 255
    faint = (edge // 255 * 100).astype(np.uint8)  # the same edge, 0..100
    assert grad_error_map(faint, edge).sum() == 0.0  # mat2gray: both become 0..1
    # dividing by 255 instead would see a different edge height
    assert grad_error_map(faint, edge, normalise="255").sum() > 0.1


def test_grad_sums_squared_magnitude_difference_over_region():
    rng = np.random.default_rng(2)
    pred = rng.integers(0, 256, (6, 9)).astype(np.uint8)
    gt = rng.integers(0, 256, (6, 9)).astype(np.uint8)
    region = np.zeros((6, 9), bool)
    region[1:4, 2:7] = True

    def normalised(a: np.ndarray) -> np.ndarray:
        return (a - a.min()) / (a.max() - a.min())

    amp_p = reference_gradient(normalised(pred.astype(float)))
    amp_g = reference_gradient(normalised(gt.astype(float)))
    expected = ((amp_p - amp_g) ** 2)[region].sum()
    got = matting_errors(pred, gt, {"r": region})["r"]["grad"]
    assert got == pytest.approx(expected, rel=1e-5)


def test_constant_images_have_no_gradient():
    flat = np.full((5, 5), 77, np.uint8)
    assert matting_errors(flat, np.zeros_like(flat), WHOLE)["whole"]["grad"] < 1e-20


# --- Conn ------------------------------------------------------------------------------------


def test_conn_thresholds_are_matlabs_colon_values():
    assert CONN_LEVELS.tolist() == [
        0,
        0.1,
        0.2,
        0.30000000000000004,
        0.4,
        0.5,
        0.6,
        0.7,
        0.8,
        0.9,
        1,
    ]
    x = np.arange(256)
    a32 = x.astype(np.float32) / np.float32(255)
    for k, t in enumerate(CONN_LEVELS):
        # the integer threshold used is the single-precision test a >= t of the reference
        np.testing.assert_array_equal(x >= _CONN_MIN_UINT8[k], a32 >= t)
        np.testing.assert_array_equal(x >= _CONN_MIN_UINT8[k], a32 >= np.float32(t))


def test_conn_background_is_never_omega():
    # Foreground joint components: A = row 0 cols 0..2 (3 px), B = (2, 3) (1 px); the
    # background (11 px) is larger but is not a component.
    gt = [[255, 255, 64, 0, 0], [0, 0, 0, 0, 0], [0, 0, 0, 255, 0]]
    pred = [[255, 255, 255, 0, 0], [0, 0, 0, 0, 0], [0, 0, 0, 128, 0]]
    # omega = A while (0, 2) is in the joint set (t <= 0.2), then A minus (0, 2):
    # (0, 2) gets l = 0.2: d_p = 0.8 -> phi_p = 0.2, d_g = 0.051 -> phi_g = 1: error 0.8.
    # (2, 3) gets l = 0 at t = 0.1: phi_p = 1 - 128/255, phi_g = 0: error 127/255.
    # (0, 0), (0, 1) are never set (l = 1), background has l = 0 and d = 0: no error.
    assert conn(pred, gt) == pytest.approx(0.8 + 127 / 255, rel=1e-6)
    # with the background as omega the answer would be 1 - 64/255 + 127/255 (1.247)


def test_conn_uses_4_connectivity():
    # A diagonal chain (0,0),(1,1),(2,2) is three 1-pixel components; the pair (0,4),(1,4)
    # is omega. The chain gets l = 0 at t = 0.1; only (1,1) differs (p 255, g 64):
    # phi_p = 0, phi_g = 1 - 64/255. With 8-connectivity it would be 0.8.
    gt = np.zeros((4, 5), np.uint8)
    for y, x in [(0, 0), (1, 1), (2, 2), (0, 4), (1, 4)]:
        gt[y, x] = 255
    pred = gt.copy()
    gt[1, 1] = 64
    assert conn(pred.tolist(), gt.tolist()) == pytest.approx(191 / 255, rel=1e-6)


def test_conn_ties_go_to_the_first_component_in_column_major_order():
    # X = (0,3),(0,4) and Y = (2,0),(2,1), both 2 px. Column-major, Y starts first (index 2
    # vs 9); row-major X would. With omega = Y, X gets l = 0 and (0,3) (p 255, g 64) errs
    # by 1 - 64/255; with omega = X it would err by 0.8.
    gt = np.zeros((3, 5), np.uint8)
    for y, x in [(0, 3), (0, 4), (2, 0), (2, 1)]:
        gt[y, x] = 255
    pred = gt.copy()
    gt[0, 3] = 64
    assert conn(pred.tolist(), gt.tolist()) == pytest.approx(191 / 255, rel=1e-6)
    omega = largest_component(pred > 0)
    expected = np.zeros((3, 5), bool)
    expected[2, 0:2] = True
    assert omega.tolist() == expected.tolist()


def test_conn_with_empty_joint_set_sets_every_level_to_zero():
    gt = np.zeros((3, 3), np.uint8)
    gt[0, 0] = gt[2, 2] = 255
    # p is 0 everywhere: l = 0, phi_p = 1; phi_g = 0 on the two GT pixels
    assert conn(np.zeros((3, 3), np.uint8).tolist(), gt.tolist()) == pytest.approx(2.0)


def test_conn_counts_only_the_region():
    gt = [[255, 255, 64, 0, 0], [0, 0, 0, 0, 0], [0, 0, 0, 255, 0]]
    pred = [[255, 255, 255, 0, 0], [0, 0, 0, 0, 0], [0, 0, 0, 128, 0]]
    region = np.zeros((3, 5), bool)
    region[0, 2] = True
    error = conn_error_map(np.array(pred, np.uint8), np.array(gt, np.uint8))
    assert matting_errors(np.array(pred, np.uint8), np.array(gt, np.uint8), {"r": region})["r"][
        "conn"
    ] == pytest.approx(0.8, rel=1e-6)
    assert error[2, 3] == pytest.approx(127 / 255, rel=1e-6)


# --- Trimap ----------------------------------------------------------------------------------


def test_generated_trimap_is_dilated_nonzero_band_with_opaque_foreground():
    alpha = np.zeros((5, 5), np.uint8)
    alpha[2, 2], alpha[2, 3] = 255, 128
    expected = [
        [0, 0, 0, 0, 0],
        [0, 0, 128, 128, 0],
        [0, 128, 255, 128, 128],
        [0, 0, 128, 128, 0],
        [0, 0, 0, 0, 0],
    ]
    assert generate_trimap(alpha, band=1).tolist() == expected


# --- IMQ -------------------------------------------------------------------------------------

A = np.zeros((4, 6), np.uint8)
A[:, 0:2] = 255
B = np.zeros((4, 6), np.uint8)
B[:, 2:4] = 255
C = np.zeros((4, 6), np.uint8)
C[:, 5] = 255
A_SOFT = A.copy()
A_SOFT[0, 0] = 128  # union stays the 8 pixels of A
S_MAD = 1 - 10 * (127 / 255) / 9  # MAD over U = (127/255) / (|U| + 1)
S_MSE = 1 - 10 * (127 / 255) ** 2 / 9


def test_imq_swapped_order_matches_by_iou():
    scores = instance_counts([B, A_SOFT], [A, B]).scores()
    assert (scores["tp"], scores["fp"], scores["fn"]) == (2, 0, 0)
    assert scores["imq"]["mad"] == pytest.approx(100 * (1 + S_MAD) / 2, rel=1e-5)
    assert scores["imq"]["mse"] == pytest.approx(100 * (1 + S_MSE) / 2, rel=1e-5)
    assert scores["rq"] == 1.0
    assert scores["mq"]["mad"] == pytest.approx((1 + S_MAD) / 2, rel=1e-5)


def test_imq_missed_instance():
    scores = instance_counts([A_SOFT], [A, B]).scores()
    assert (scores["tp"], scores["fp"], scores["fn"]) == (1, 0, 1)
    assert scores["imq"]["mad"] == pytest.approx(100 * S_MAD / 1.5, rel=1e-5)
    assert scores["rq"] == pytest.approx(1 / 1.5)
    assert scores["mq"]["mad"] == pytest.approx(S_MAD, rel=1e-5)


def test_imq_extra_instance():
    scores = instance_counts([A_SOFT, B, C], [A, B]).scores()
    assert (scores["tp"], scores["fp"], scores["fn"]) == (2, 1, 0)
    assert scores["imq"]["mad"] == pytest.approx(100 * (1 + S_MAD) / 2.5, rel=1e-5)
    assert scores["rq"] == pytest.approx(2 / 2.5)


def test_imq_match_needs_iou_at_least_half():
    half = np.zeros_like(A)
    half[:, 0] = 255  # IoU with A = 4 / 8
    less = np.zeros_like(A)
    less[:3, 0] = 255  # IoU with A = 3 / 8
    assert [(p, g) for p, g, _ in match_instances([half > 0], [A > 0])] == [(0, 0)]
    counts = instance_counts([less], [A])
    assert (counts.tp, counts.fp, counts.fn) == (0, 1, 1)
    assert counts.scores()["imq"]["mad"] == 0.0 and math.isnan(counts.scores()["mq"]["mad"])


def test_imq_grad_scales_by_255_not_min_max():
    dim = (A // 255 * 250).astype(np.uint8)  # same shape as A, peak 250
    scores = instance_counts([dim], [A]).scores()
    assert scores["imq"]["mad"] == pytest.approx(100 * (1 - 10 * (5 / 255) * 8 / 9), rel=1e-5)
    amp_p = reference_gradient(dim / 255.0).astype(np.float32)
    amp_g = reference_gradient(A / 255.0).astype(np.float32)
    error = ((amp_p - amp_g) ** 2)[A > 0].sum() / 9
    assert error > 0  # min-max normalisation would make the two identical
    assert scores["imq"]["grad"] == pytest.approx(100 * (1 - min(10 * error, 1)), rel=1e-4)


def test_imq_sums_over_images():
    total = instance_counts([B, A_SOFT], [A, B]) + instance_counts([], [A])
    scores = total.scores()
    assert (scores["tp"], scores["fp"], scores["fn"]) == (2, 0, 1)
    assert scores["imq"]["mad"] == pytest.approx(100 * (1 + S_MAD) / 2.5, rel=1e-5)
    assert math.isnan(ImqCounts().scores()["imq"]["mad"])


def test_metrics_table_drives_headers_csv_and_help():
    from typer.testing import CliRunner

    from mamcli.cli.app import app

    assert [m.header for m in METRICS.values()] == [
        "SAD (/1000)",
        "MSE (x1e3)",
        "MAD (x1e3)",
        "Grad (/1000)",
        "Conn (/1000)",
    ]
    assert [m.csv_suffix for m in METRICS.values()] == ["div1000", "x1000", "x1000"] + [
        "div1000"
    ] * 2
    assert {name: m.scale for name, m in METRICS.items()} == REPORT_SCALE
    result = CliRunner().invoke(app, ["eval", "--help"], terminal_width=400)
    assert result.exit_code == 0
    text = " ".join(result.output.replace("│", " ").split())
    for metric in METRICS.values():
        assert f"{metric.header}: {metric.definition}." in text
