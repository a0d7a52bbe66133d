"""Matting errors SAD, MSE, MAD, Grad and Conn, as the Deep Image Matting evaluation defines them.

Inputs are uint8 H x W alphas (pred p, ground truth g). Per-pixel error maps are computed in
single precision, as the reference MATLAB code does, and summed over a region R (the whole
image, or the trimap's unknown pixels) in double precision. Values here are in raw units;
each metric's `scale` in METRICS converts them to the units papers print. METRICS is the one
table the reports, the CSV columns and `mam eval --help` are generated from.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class Metric:
    """One error metric: its label, report scale (raw value x scale = the printed number)
    and a one-line definition over the region R, p and g in [0, 1]."""

    name: str
    label: str
    scale: float
    definition: str

    @property
    def unit(self) -> str:
        """The scale as a column header writes it: "/1000" or "x1e3"."""
        return (
            f"/{round(1 / self.scale)}" if self.scale < 1 else f"x1e{round(math.log10(self.scale))}"
        )

    @property
    def header(self) -> str:
        return f"{self.label} ({self.unit})"

    @property
    def csv_suffix(self) -> str:
        """The unit in a CSV column name: "div1000" or "x1000"."""
        return f"div{round(1 / self.scale)}" if self.scale < 1 else f"x{round(self.scale)}"


METRICS = {
    metric.name: metric
    for metric in (
        Metric("sad", "SAD", 1e-3, "sum over R of |p - g|"),
        Metric("mse", "MSE", 1e3, "mean over R of (p - g)^2"),
        Metric("mad", "MAD", 1e3, "mean over R of |p - g|"),
        Metric(
            "grad",
            "Grad",
            1e-3,
            "sum over R of (|grad p| - |grad g|)^2; gradients by 9x9 first-derivative-of-"
            "Gaussian filters (sigma 1.4), each image min-max normalised first",
        ),
        Metric(
            "conn",
            "Conn",
            1e-3,
            "sum over R of |phi_p - phi_g|, phi = 1 - d where d >= 0.15 (else 1), "
            "d = alpha minus the last threshold (0.1 .. 1.0) at which the pixel is still in "
            "the largest 4-connected component of the joint set (background never counts)",
        ),
    )
}
REPORT_SCALE = {name: metric.scale for name, metric in METRICS.items()}

GRAD_SIGMA = 1.4

# MATLAB's `0:0.1:1`: its colon operator builds the first half as k * 0.1 and the second
# half as 1 - (10 - k) * 0.1, with the middle element exactly 0.5. These are the Conn
# thresholds and levels. Only k = 3 differs from k / 10 (0.30000000000000004), and not
# after the cast to single precision that the level map goes through. The threshold test
# `a >= t` on a = x / 255 is the exact integer test 10 x >= 255 k for either choice (checked
# in the tests), so it is done on integers here.
CONN_LEVELS = np.array(
    [k * 0.1 if k < 5 else 0.5 if k == 5 else 1.0 - (10 - k) * 0.1 for k in range(11)]
)
_CONN_MIN_UINT8 = [math.ceil(255 * k / 10) for k in range(11)]  # smallest x with 10 x >= 255 k
PHI_CUTOFF = 0.15


def abs_error_map(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """|p - g| / 255 in single precision."""
    return np.abs(pred.astype(np.float32) - gt.astype(np.float32)) / np.float32(255)


def region_sum(error_map: np.ndarray, region: np.ndarray | None) -> float:
    """Sum of a single-precision error map over a boolean region (None: whole image)."""
    values = error_map if region is None else error_map[region]
    return float(values.sum(dtype=np.float64))


def gaussian_derivative_kernels(sigma: float = GRAD_SIGMA) -> tuple[np.ndarray, np.ndarray]:
    """The separable factors of the reference's 9 x 9 x-derivative filter hx(i, j) = G(i) G'(j).

    Returns (column factor G, row factor G'), scaled so that their outer product has unit
    L2 norm, as the reference normalises hx; hy is hx transposed.
    """
    half = math.ceil(sigma * math.sqrt(-2.0 * math.log(math.sqrt(2.0 * math.pi) * sigma * 0.01)))
    x = np.arange(-half, half + 1, dtype=np.float64)
    gauss = np.exp(-(x**2) / (2.0 * sigma**2)) / (sigma * math.sqrt(2.0 * math.pi))
    dgauss = -x * gauss / sigma**2
    return gauss / np.linalg.norm(gauss), dgauss / np.linalg.norm(dgauss)


def gradient_magnitude(image: np.ndarray, sigma: float = GRAD_SIGMA) -> np.ndarray:
    """|grad image| with derivative-of-Gaussian filters: true convolution, replicated borders.

    Convolution flips the kernel; OpenCV correlates, so the flipped factors are passed.
    """
    gauss, dgauss = gaussian_derivative_kernels(sigma)
    gauss_c, dgauss_c = gauss[::-1].copy(), dgauss[::-1].copy()
    image = image.astype(np.float64)
    gx = cv2.sepFilter2D(image, cv2.CV_64F, dgauss_c, gauss_c, borderType=cv2.BORDER_REPLICATE)
    gy = cv2.sepFilter2D(image, cv2.CV_64F, gauss_c, dgauss_c, borderType=cv2.BORDER_REPLICATE)
    return np.sqrt(gx * gx + gy * gy)


def mat2gray(image: np.ndarray) -> np.ndarray:
    """Min-max normalise by the image's own range (MATLAB's mat2gray); constant -> as is."""
    image = image.astype(np.float64)
    low, high = image.min(), image.max()
    return image if high == low else (image - low) / (high - low)


def grad_error_map(pred: np.ndarray, gt: np.ndarray, normalise: str = "minmax") -> np.ndarray:
    """(|grad p| - |grad g|)^2 per pixel, single precision.

    normalise="minmax" is the DIM reference (mat2gray per image); "255" divides by 255, as
    the instance-matting benchmark code does.
    """
    prepare = mat2gray if normalise == "minmax" else (lambda a: a.astype(np.float64) / 255.0)
    amp_p = gradient_magnitude(prepare(pred)).astype(np.float32)
    amp_g = gradient_magnitude(prepare(gt)).astype(np.float32)
    return np.square(amp_p - amp_g)


def largest_component(mask: np.ndarray) -> np.ndarray:
    """The largest 4-connected component of a boolean mask (empty mask -> empty).

    The background is never a component. Ties go to the component whose first pixel comes
    first in column-major order (MATLAB's bwconncomp order), so labelling runs on the
    transpose.
    """
    mask_t = np.ascontiguousarray(mask.T, dtype=np.uint8)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask_t, connectivity=4)
    if count <= 1:
        return np.zeros_like(mask, dtype=bool)
    areas = stats[1:, cv2.CC_STAT_AREA]
    best = np.flatnonzero(areas == areas.max()) + 1
    if len(best) > 1:
        flat = labels.ravel()
        best = [min(best, key=lambda label: int(np.argmax(flat == label)))]
    return (labels == best[0]).T


def conn_levels(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """The level l per pixel: the threshold below the first one at which the pixel leaves
    the largest joint component; 1 when it never leaves (float32)."""
    joint_min = np.minimum(pred, gt)
    level_index = np.full(pred.shape, -1, dtype=np.int8)
    for k in range(1, 11):
        omega = largest_component(joint_min >= _CONN_MIN_UINT8[k])
        level_index[(level_index == -1) & ~omega] = k - 1
    level_index[level_index == -1] = 10
    return CONN_LEVELS.astype(np.float32)[level_index]


def conn_error_map(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """|phi_p - phi_g| per pixel, phi = 1 - d [d >= 0.15], d = a - l (single precision)."""
    levels = conn_levels(pred, gt)

    def phi(alpha: np.ndarray) -> np.ndarray:
        d = alpha.astype(np.float32) / np.float32(255) - levels
        return np.float32(1) - d * (d >= PHI_CUTOFF)

    return np.abs(phi(pred) - phi(gt))


def matting_errors(
    pred: np.ndarray, gt: np.ndarray, regions: dict[str, np.ndarray | None]
) -> dict[str, dict[str, float]]:
    """SAD, MSE, MAD, Grad and Conn (raw units) of one pair over each named region.

    A region is a boolean H x W mask or None for the whole image. Error maps are built
    once and summed per region. MSE and MAD over an empty region are NaN.
    """
    if pred.shape != gt.shape:
        raise ValueError(f"size mismatch: prediction {pred.shape}, ground truth {gt.shape}")
    abs_map = abs_error_map(pred, gt)
    sq_map = np.square(abs_map)
    grad_map = grad_error_map(pred, gt)
    conn_map = conn_error_map(pred, gt)
    results = {}
    for name, region in regions.items():
        count = gt.size if region is None else int(np.count_nonzero(region))
        sad = region_sum(abs_map, region)
        results[name] = {
            "sad": sad,
            "mse": region_sum(sq_map, region) / count if count else math.nan,
            "mad": sad / count if count else math.nan,
            "grad": region_sum(grad_map, region),
            "conn": region_sum(conn_map, region),
        }
    return results


def to_report_units(values: dict[str, float]) -> dict[str, float]:
    """Scale raw metric values to the units papers print (see REPORT_SCALE)."""
    return {name: value * REPORT_SCALE[name] for name, value in values.items()}
