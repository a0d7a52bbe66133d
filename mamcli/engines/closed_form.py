"""Mask -> trimap -> closed-form alpha (Levin et al. 2008), at a working resolution.

Shared by the classic engine (GrabCut mask) and the MAM engine's `--refiner cf` option
(SAM mask). The matting Laplacian is solved on an image whose long side is at most
`working_size`; for bigger images the low-resolution alpha is brought back to full size
with a fast guided filter (He et al. 2010, He and Sun 2015): the filter's local linear
coefficients alpha ~ a . I + b are fitted at the working resolution and evaluated on the
full-resolution image in row strips, so full-size memory stays a few bytes per pixel.
"""

from __future__ import annotations

import contextlib
import io
import math

import cv2
import numpy as np

from mamcli.imaging.trimap import trimap_from_mask

STRIP_PIXELS = 4_000_000
"""Pixels per row strip in full-resolution passes (bounds temporary memory)."""


def working_scale(shape: tuple[int, ...], working_size: int) -> float:
    """Scale (<= 1) that brings the long side of an image of `shape` to `working_size`."""
    return min(1.0, working_size / max(shape[0], shape[1]))


def to_working(image: np.ndarray, working_size: int) -> np.ndarray:
    """`image` with its long side shrunk to at most `working_size` (area averaging)."""
    scale = working_scale(image.shape, working_size)
    if scale >= 1.0:
        return image
    h, w = image.shape[:2]
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def row_strips(height: int, width: int) -> list[tuple[int, int]]:
    """Half-open row ranges covering `height` rows, each about STRIP_PIXELS pixels."""
    rows = max(1, STRIP_PIXELS // max(1, width))
    return [(y, min(height, y + rows)) for y in range(0, height, rows)]


def upsample_rows(small: np.ndarray, shape: tuple[int, int], y0: int, y1: int) -> np.ndarray:
    """Rows y0:y1 of `small` resized bilinearly to `shape` (h, w), without the full image.

    Uses the same pixel-centre mapping as cv2.resize, so strips tile seamlessly.
    """
    h, w = shape
    sh, sw = small.shape[:2]
    xs = ((np.arange(w, dtype=np.float32) + 0.5) * (sw / w) - 0.5).astype(np.float32)
    ys = ((np.arange(y0, y1, dtype=np.float32) + 0.5) * (sh / h) - 0.5).astype(np.float32)
    map_x = np.broadcast_to(xs, (y1 - y0, w)).copy()
    map_y = np.broadcast_to(ys[:, None], (y1 - y0, w)).copy()
    return cv2.remap(small, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def band_pixels(shape: tuple[int, ...], band: float, min_px: int = 2) -> int:
    """Unknown-band half-width in pixels: `band` times the image diagonal, at least min_px."""
    return max(min_px, round(band * math.hypot(shape[0], shape[1])))


SOLVERS = ("cf", "knn", "lbdm", "rw", "sm")
"""pymatting's alpha solvers: closed-form, KNN, learning-based, random-walk, shared."""

CG_RTOL = 1e-5
"""Relative residual at which conjugate gradients stop (pymatting's default is 1e-7;
measured on the classic engine's development set, 1e-5 changes mean SAD by under 0.01
and saves about a tenth of the time)."""

ICHOL_DISCARD = 1e-3
"""Factor entries below this are dropped from the incomplete Cholesky preconditioner
(pymatting's default is 1e-4): a sparser factor, a few more iterations, less time."""

ICHOL_SHIFTS = (1e-3, 1e-2, 0.1, 0.5, 1.0, 10.0, 100.0, 1e3, 1e4, 1e5)
"""Diagonal shifts the incomplete Cholesky tries in turn until the factor exists.
pymatting starts at 0 and 1e-4; with ICHOL_DISCARD those mostly fail after much of the
work, so the first try is 1e-3 (same alphas on the development set, less time)."""


def solve_alpha(rgb: np.ndarray, trimap: np.ndarray, solver: str = "cf") -> np.ndarray:
    """Alpha of a uint8 image and trimap with one of pymatting's SOLVERS.

    Only the bounding box of the unknown pixels (plus the Laplacian's window margin) is
    solved; everything else is taken from the trimap. Returns float32 H x W in [0, 1].
    """
    from pymatting import (  # numba-heavy: imported when used
        estimate_alpha_cf,
        estimate_alpha_knn,
        estimate_alpha_lbdm,
        estimate_alpha_rw,
        estimate_alpha_sm,
    )

    alpha = (trimap >= 255).astype(np.float32)
    window = _unknown_window(trimap)
    if window is None:
        return alpha
    image = rgb[window].astype(np.float64) / 255.0
    tri = trimap[window].astype(np.float64) / 255.0
    if solver == "sm":
        with contextlib.redirect_stdout(io.StringIO()):
            solved = estimate_alpha_sm(image, tri)
    else:
        estimate = {
            "cf": estimate_alpha_cf,
            "knn": estimate_alpha_knn,
            "lbdm": estimate_alpha_lbdm,
            "rw": estimate_alpha_rw,
        }[solver]
        solved = estimate(image, tri, preconditioner=_preconditioner, cg_kwargs={"rtol": CG_RTOL})
    alpha[window] = np.clip(solved, 0, 1)
    return alpha


def closed_form_with_prior(
    rgb: np.ndarray, trimap: np.ndarray, prior: np.ndarray, weight: np.ndarray
) -> np.ndarray:
    """Closed-form alpha with a data term: minimises a' L a + sum weight (a - prior)^2
    over the unknown pixels of a uint8 trimap (Levin et al.'s energy plus a soft
    constraint, so a region with no known foreground can still get a fractional alpha).

    Only the bounding box of the unknown pixels is solved. Returns float32 H x W in [0, 1].
    """
    import scipy.sparse
    from pymatting import cf_laplacian, cg

    alpha = (trimap >= 255).astype(np.float32)
    window = _unknown_window(trimap)
    if window is None:
        return alpha
    tri = trimap[window]
    known = tri != 128
    laplacian = cf_laplacian(rgb[window].astype(np.float64) / 255.0, is_known=known)
    unknown = ~known.ravel()
    fg = (tri == 255).ravel()[~unknown].astype(np.float64)
    w = weight[window].ravel()[unknown].astype(np.float64)
    p = prior[window].ravel()[unknown].astype(np.float64)
    rows = laplacian[unknown, :]
    system = (rows[:, unknown] + scipy.sparse.diags(w)).tocsc()
    rhs = w * p - rows[:, ~unknown].dot(fg)
    solved = np.zeros(tri.size)
    solved[~unknown] = fg
    solved[unknown] = cg(system, rhs, M=_preconditioner(system), rtol=CG_RTOL)
    alpha[window] = np.clip(solved.reshape(tri.shape), 0, 1)
    return alpha


def _unknown_window(trimap: np.ndarray) -> tuple[slice, slice] | None:
    """The bounding box of a uint8 trimap's unknown pixels plus the Laplacian's margin
    (3 x 3 windows touching unknown pixels lie within 2 px of them); None if none."""
    ys, xs = np.nonzero(trimap == 128)
    if ys.size == 0:
        return None
    margin = 4
    y0, y1 = max(0, ys.min() - margin), min(trimap.shape[0], ys.max() + margin + 1)
    x0, x1 = max(0, xs.min() - margin), min(trimap.shape[1], xs.max() + margin + 1)
    return slice(y0, y1), slice(x0, x1)


def closed_form_alpha(rgb: np.ndarray, trimap: np.ndarray) -> np.ndarray:
    """Closed-form alpha (pymatting's estimate_alpha_cf) for a uint8 image and trimap."""
    return solve_alpha(rgb, trimap, "cf")


def _preconditioner(matrix):
    """pymatting's incomplete Cholesky with bounded memory (Jacobi if that runs out).

    pymatting reserves room for 250 M factor entries by default and prints retries to
    stdout; here the room scales with the system and the retries stay quiet.
    """
    from pymatting import ichol, jacobi

    with contextlib.redirect_stdout(io.StringIO()):
        try:
            return ichol(
                matrix, discard_threshold=ICHOL_DISCARD, shifts=ICHOL_SHIFTS,
                max_nnz=4 * matrix.nnz + 1024,
            )  # fmt: skip
        except ValueError:
            return jacobi(matrix)


def _box(x: np.ndarray, radius: int) -> np.ndarray:
    size = (2 * radius + 1, 2 * radius + 1)
    return cv2.boxFilter(x, -1, size, borderType=cv2.BORDER_REFLECT)


def guided_coefficients(
    guide: np.ndarray, src: np.ndarray, radius: int = 2, eps: float = 1e-4
) -> np.ndarray:
    """Colour guided filter coefficients (He et al.): float32 H x W x 4 = (a_r, a_g, a_b, b).

    The filtered output is a . I + b with I the guide in [0, 1]; a and b are already
    averaged over the windows, so they can be resized and applied to a sharper guide.
    """
    guide = guide.astype(np.float64) / 255.0
    src = src.astype(np.float64)
    mean_i = _box(guide, radius)
    mean_p = _box(src, radius)
    cov_ip = _box(guide * src[..., None], radius) - mean_i * mean_p[..., None]
    sigma = np.empty((*guide.shape[:2], 3, 3))
    for i in range(3):
        for j in range(i, 3):
            c = _box(guide[..., i] * guide[..., j], radius) - mean_i[..., i] * mean_i[..., j]
            sigma[..., i, j] = sigma[..., j, i] = c
    sigma += eps * np.eye(3)
    a = np.linalg.solve(sigma, cov_ip[..., None])[..., 0]
    b = mean_p - np.einsum("hwc,hwc->hw", a, mean_i)
    coeffs = np.concatenate([a, b[..., None]], axis=-1)
    return _box(coeffs, radius).astype(np.float32)


def guided_upsample(alpha_small: np.ndarray, rgb_small: np.ndarray, rgb: np.ndarray) -> np.ndarray:
    """Full-size float32 alpha from a working-resolution alpha, guided by the full image.

    Pixels whose bilinearly upsampled alpha is exactly 0 or 1 keep that value, so the
    filter only changes the soft band; the work runs in row strips to bound memory.
    """
    h, w = rgb.shape[:2]
    coeffs = guided_coefficients(rgb_small, alpha_small)
    alpha_small = alpha_small.astype(np.float32)
    out = np.empty((h, w), np.float32)
    for y0, y1 in row_strips(h, w):
        c = upsample_rows(coeffs, (h, w), y0, y1)
        guide = rgb[y0:y1].astype(np.float32) * np.float32(1 / 255)
        q = np.einsum("hwc,hwc->hw", c[..., :3], guide) + c[..., 3]
        base = upsample_rows(alpha_small, (h, w), y0, y1)
        q = np.where(base <= 0, 0, np.where(base >= 1, 1, q))
        out[y0:y1] = np.clip(q, 0, 1)
    return out


def alpha_from_working_mask(
    rgb: np.ndarray, rgb_small: np.ndarray, mask_small: np.ndarray, band: float, min_px: int = 2
) -> np.ndarray:
    """Full-size alpha from a mask at the working resolution of `rgb` (rgb_small)."""
    trimap = trimap_from_mask(mask_small, band_pixels(mask_small.shape, band, min_px))
    alpha_small = closed_form_alpha(rgb_small, trimap)
    if rgb_small.shape[:2] == rgb.shape[:2]:
        return alpha_small
    return guided_upsample(alpha_small, rgb_small, rgb)


def refine_mask_cf(
    rgb: np.ndarray, mask: np.ndarray, band: float = 0.01, working_size: int = 1024
) -> np.ndarray:
    """Soft alpha (float32 H x W) from a hard mask: trimap around its edge + closed form.

    rgb: uint8 H x W x 3; mask: bool H x W; band: half-width of the unknown band as a
    fraction of the image diagonal (at least 2 working pixels).
    """
    rgb_small = to_working(rgb, working_size)
    mask_small = mask
    if rgb_small.shape[:2] != mask.shape[:2]:
        size = (rgb_small.shape[1], rgb_small.shape[0])
        shrunk = cv2.resize(mask.astype(np.uint8) * 255, size, interpolation=cv2.INTER_AREA)
        mask_small = shrunk >= 128
    return alpha_from_working_mask(rgb, rgb_small, mask_small, band)
