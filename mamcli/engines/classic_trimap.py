"""The classic engine's uncertainty-following trimap and its iterative matting loop.

GrabCut leaves two Gaussian mixture models (foreground, background; 5 full-covariance
components each, in OpenCV's 65-number layout). Their log-likelihood ratio per pixel says
how sure the colour models are; near the GrabCut mask's edge a pixel stays known only
where the models agree with the mask confidently, and where its neighbourhood is not a
mix of foreground- and background-like pixels (hair, fur, motion blur, soft edges). So
the unknown region is a narrow band on hard edges and grows up to `band_max` wide where
strands or blur are. After a solve, the trimap can be re-estimated from the alpha (the
unknown region shrinks to where the alpha is really soft, and grows where a soft alpha
still touches the known region) and solved again.
"""

from __future__ import annotations

import cv2
import numpy as np

COMPONENTS = 5
"""Mixture components per model in OpenCV's GrabCut."""


def gmm_log_likelihood(model: np.ndarray, pixels: np.ndarray) -> np.ndarray:
    """log p(pixel) under a GrabCut mixture model (1 x 65 float64); pixels: N x 3."""
    coefs = model[0, :COMPONENTS]
    means = model[0, COMPONENTS : 4 * COMPONENTS].reshape(COMPONENTS, 3)
    covs = model[0, 4 * COMPONENTS :].reshape(COMPONENTS, 3, 3)
    x = pixels.astype(np.float64)
    best = np.full(len(x), -np.inf)
    for k in range(COMPONENTS):
        if coefs[k] <= 0:
            continue
        cov = covs[k] + 0.01 * np.eye(3)
        inv = np.linalg.inv(cov)
        d = x - means[k]
        maha = np.einsum("ni,ij,nj->n", d, inv, d)
        term = np.log(coefs[k]) - 0.5 * (np.log(np.linalg.det(cov)) + maha)
        best = np.logaddexp(best, term)
    return best


def foreground_posterior(
    rgb: np.ndarray, fgd_model: np.ndarray, bgd_model: np.ndarray, where: np.ndarray | None = None
) -> np.ndarray:
    """P(foreground | colour) per pixel (float32 H x W) from GrabCut's two models; only
    computed where the bool `where` is set (0.5 elsewhere)."""
    pick = np.ones(rgb.shape[:2], bool) if where is None else where
    pixels = rgb[pick]
    ratio = gmm_log_likelihood(fgd_model, pixels) - gmm_log_likelihood(bgd_model, pixels)
    out = np.full(rgb.shape[:2], 0.5, np.float32)
    out[pick] = 1 / (1 + np.exp(-np.clip(ratio, -30, 30)))
    return out


def mixture_fraction(
    rgb: np.ndarray, fgd_model: np.ndarray, bgd_model: np.ndarray, tolerance: float,
    where: np.ndarray | None = None,
) -> np.ndarray:  # fmt: skip
    """Per pixel, the foreground fraction t of the closest blend t F + (1 - t) B of a
    foreground and a background component mean; -1 where no blend comes within
    `tolerance` (colour levels) or outside the bool `where`. A strand or blurred pixel is
    such a blend."""
    pick = np.ones(rgb.shape[:2], bool) if where is None else where
    x = rgb[pick].astype(np.float32)
    best_d2 = np.full(len(x), np.float32(tolerance) ** 2)
    best_t = np.full(len(x), -1.0, np.float32)
    sq = np.einsum("ni,ni->n", x, x)
    for f in model_means(fgd_model).astype(np.float32):
        for b in model_means(bgd_model).astype(np.float32):
            axis = f - b
            span = float(axis @ axis)
            if span < 1:
                continue
            # |x - b|^2 and (x - b) . axis from x . b and x . axis: two mat-vecs per pair
            proj = x @ axis - float(b @ axis)
            rel2 = sq - 2 * (x @ b) + float(b @ b)
            t = np.clip(proj / span, 0, 1)
            d2 = rel2 - 2 * t * proj + t * t * span
            closer = d2 < best_d2
            best_d2[closer] = d2[closer]
            best_t[closer] = t[closer]
    out = np.full(rgb.shape[:2], -1.0, np.float32)
    out[pick] = best_t
    return out


def transparency_prior(
    mask: np.ndarray, blend: np.ndarray, radius: int, density: float
) -> tuple[np.ndarray, np.ndarray]:
    """Where a see-through object shows: (bool H x W, float32 prior alpha H x W).

    `blend` is mixture_fraction over the mask. A pixel of the mask is see-through where
    more than `density` of the mask's pixels within `radius` are blends t F + (1 - t) B
    of a foreground and a background colour (0.1 < t < 0.9): glass, thin cloth, smoke
    show the background through them everywhere, an opaque object only in scattered
    pixels. Its prior alpha is the mean t of those blends.
    """
    is_blend = ((blend > 0.1) & (blend < 0.9)).astype(np.float32)
    size = (2 * radius + 1, 2 * radius + 1)
    share = cv2.boxFilter(is_blend, -1, size) / np.maximum(
        cv2.boxFilter(mask.astype(np.float32), -1, size), 1e-3
    )
    blends = cv2.boxFilter(is_blend, -1, size)
    prior = cv2.boxFilter(np.where(is_blend > 0, blend, 0), -1, size) / np.maximum(blends, 1e-3)
    return mask & (share > density), prior.astype(np.float32)


def model_means(model: np.ndarray) -> np.ndarray:
    """Means (K x 3) of the components of a GrabCut model that have weight."""
    coefs = model[0, :COMPONENTS]
    means = model[0, COMPONENTS : 4 * COMPONENTS].reshape(COMPONENTS, 3)
    return means[coefs > 0]


def distance_to_edge(mask: np.ndarray) -> np.ndarray:
    """Distance (px) of every pixel to the other side of the mask's edge."""
    m = mask.astype(np.uint8)
    inside = cv2.distanceTransform(m, cv2.DIST_L2, 3)
    outside = cv2.distanceTransform(1 - m, cv2.DIST_L2, 3)
    return np.where(mask, inside, outside)


def adaptive_trimap(
    mask: np.ndarray, posterior: np.ndarray, narrow_px: int, wide_px: int,
    confidence: float, window: int, blend: np.ndarray | None = None,
) -> np.ndarray:  # fmt: skip
    """uint8 trimap: unknown within `narrow_px` of the mask edge, and within `wide_px`
    where the colour models disagree with the mask or a pixel's neighbourhood mixes
    foreground- and background-like colours."""
    dist = distance_to_edge(mask)
    kernel = np.ones((2 * window + 1, 2 * window + 1), np.uint8)
    low = cv2.erode(posterior, kernel, borderType=cv2.BORDER_REPLICATE)
    high = cv2.dilate(posterior, kernel, borderType=cv2.BORDER_REPLICATE)
    doubt = np.where(mask, low < confidence, high > 1 - confidence)
    if blend is not None:  # colours that are a blend of foreground and background
        doubt |= (blend > 0.1) & (blend < 0.9)
    band = dist <= narrow_px
    candidate = (band | ((dist <= wide_px) & doubt)).astype(np.uint8)
    count, labels = cv2.connectedComponents(candidate, connectivity=8)
    touching = np.zeros(count, bool)
    touching[np.unique(labels[band])] = True
    touching[0] = False
    unknown = touching[labels]
    trimap = np.where(mask, 255, 0).astype(np.uint8)
    trimap[unknown] = 128
    return trimap


def trimap_from_alpha(
    alpha: np.ndarray, limit: np.ndarray, grow_px: int, soft: float = 0.02
) -> np.ndarray:
    """Re-estimated trimap: unknown where the alpha is soft, grown by `grow_px` (so a soft
    alpha that reached the known region pushes the unknown region further), within the
    bool `limit`; known elsewhere from the alpha."""
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * grow_px + 1, 2 * grow_px + 1))
    is_soft = ((alpha > soft) & (alpha < 1 - soft)).astype(np.uint8)
    unknown = (cv2.dilate(is_soft, kernel) > 0) & limit
    trimap = np.where(alpha >= 0.5, 255, 0).astype(np.uint8)
    trimap[unknown] = 128
    return trimap
