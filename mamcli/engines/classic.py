"""The weight-free classic engine: GrabCut segmentation + closed-form matting.

For each instance: the prompt seeds OpenCV's GrabCut at a working resolution; the mask is
brought to the finer matting resolution, where a trimap whose unknown region follows the
doubt of GrabCut's colour models (mamcli/engines/classic_trimap.py) is solved by
closed-form matting (Levin et al., see mamcli/engines/closed_form.py), then re-estimated
from the alpha and solved again. No network weights are needed.

GrabCut initialisation (one rule for every prompt kind; see docs/classic.md):
- box: outside the box is background, inside is probable foreground, exactly as
  cv2.GC_INIT_WITH_RECT sets it;
- points: a disc of `seed_radius` around each point is definite foreground (label 1)
  or background (label 0);
- points without a box: the box spanned by the positive points, grown by `point_margin`
  of the image's long side, is probable foreground and the rest probable background.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from mamcli.engines.classic_trimap import (
    adaptive_trimap,
    distance_to_edge,
    foreground_posterior,
    mixture_fraction,
    transparency_prior,
    trimap_from_alpha,
)
from mamcli.engines.closed_form import (
    closed_form_with_prior,
    guided_upsample,
    solve_alpha,
    to_working,
)
from mamcli.engines.config import ClassicConfig
from mamcli.errors import InputError
from mamcli.imaging.trimap import trimap_from_mask
from mamcli.results import Instance, InstanceMatte

MIN_SIDE = 8  # GrabCut's colour models need a few pixels of each kind


@dataclass
class _Prompt:
    """An instance's prompt mapped to working pixels: box is GrabCut's inclusive pixel
    rectangle (x0, y0, last x, last y), converted from mam's exclusive box."""

    box: tuple[int, int, int, int] | None
    points: list[tuple[int, int]]
    labels: list[int]


class ClassicEngine:
    """Box/point prompts -> GrabCut mask -> closed-form alpha, without model weights."""

    name = "classic"

    def __init__(self, config: ClassicConfig | None = None) -> None:
        self.config = config or ClassicConfig()

    def predict(
        self, rgb: np.ndarray, instances: list[Instance], source: str = "image"
    ) -> list[InstanceMatte]:
        """Mattes for `instances` of a uint8 H x W x 3 image, at its full size.

        Bad prompts raise InputError(source, problem); the pipeline names the file.
        """
        if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
            raise InputError(source, f"expected a uint8 H x W x 3 RGB image, got {rgb.shape}")
        h, w = rgb.shape[:2]
        if min(h, w) < MIN_SIDE:
            raise InputError(source, f"{w} x {h} is too small for the classic engine "
                             f"(GrabCut needs at least {MIN_SIDE} px on each side)")  # fmt: skip
        cfg = self.config
        small = to_working(rgb, cfg.working_size)
        fine = small if cfg.matte_size <= cfg.working_size else to_working(rgb, cfg.matte_size)
        scale = small.shape[1] / w, small.shape[0] / h
        prompts = [_validate(inst, (h, w), scale, source) for inst in instances]
        return [self._matte(rgb, small, fine, prompt) for prompt in prompts]

    def _matte(
        self, rgb: np.ndarray, small: np.ndarray, fine: np.ndarray, prompt: _Prompt
    ) -> InstanceMatte:
        """GrabCut on `small`, trimap and solves on `fine`, alpha at the size of `rgb`."""
        cfg = self.config
        h, w = rgb.shape[:2]
        mask, fgd_model, bgd_model = grabcut_models(small, prompt, cfg)
        if not mask.any():
            empty = np.zeros((h, w), np.float32)
            warning = "GrabCut found no foreground for this prompt; the alpha is empty"
            return InstanceMatte(alpha=empty, mask=empty > 0, score=1.0, warning=warning)
        diag = math.hypot(*fine.shape[:2])
        fine_mask = resize_mask(mask, fine.shape[:2])
        alpha = matte_working(fine, fine_mask, fgd_model, bgd_model, cfg, diag)
        if fine.shape[:2] != (h, w):
            alpha = guided_upsample(alpha, fine, rgb)
        return InstanceMatte(alpha=alpha, mask=resize_mask(mask, (h, w)), score=1.0)


def resize_mask(mask: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """A bool mask brought to `shape` (h, w) by bilinear resizing, cut at one half."""
    if mask.shape == shape:
        return mask
    size = (shape[1], shape[0])
    return cv2.resize(mask.astype(np.uint8) * 255, size, interpolation=cv2.INTER_LINEAR) > 127


def matte_working(
    rgb: np.ndarray, mask: np.ndarray, fgd_model: np.ndarray, bgd_model: np.ndarray,
    cfg: ClassicConfig, diag: float,
) -> np.ndarray:  # fmt: skip
    """Alpha (float32) of an image at the matting resolution from its GrabCut result
    (the mask brought to that resolution, and GrabCut's colour models).

    Band widths are fractions of `diag`, the diagonal of that image.
    """
    wide = max(cfg.narrow_px, round(cfg.band_max * diag))
    dist = distance_to_edge(mask)
    if cfg.trimap == "fixed":
        trimap = trimap_from_mask(mask, max(cfg.min_band_px, round(cfg.band * diag)))
    elif cfg.trimap == "adaptive":
        near = dist <= wide + cfg.mix_window
        posterior = foreground_posterior(rgb, fgd_model, bgd_model, near)
        blend = None
        if cfg.blend_tolerance > 0:
            blend = mixture_fraction(rgb, fgd_model, bgd_model, cfg.blend_tolerance, near)
        trimap = adaptive_trimap(
            mask, posterior, cfg.narrow_px, wide, cfg.confidence, cfg.mix_window, blend
        )
    else:
        raise ValueError(f"unknown trimap {cfg.trimap!r}: expected 'adaptive' or 'fixed'")
    alpha = solve_alpha(rgb, trimap, cfg.solver)
    limit = dist <= wide
    for _ in range(cfg.iterations - 1):
        trimap = trimap_from_alpha(alpha, limit, cfg.regrow_px)
        alpha = solve_alpha(rgb, trimap, cfg.solver)
    if cfg.trimap == "adaptive" and cfg.blend_tolerance > 0 and cfg.glass_density < 1:
        alpha = see_through(rgb, mask, fgd_model, bgd_model, cfg, diag, alpha, dist)
    return alpha


def see_through(
    rgb: np.ndarray, mask: np.ndarray, fgd_model: np.ndarray, bgd_model: np.ndarray,
    cfg: ClassicConfig, diag: float, alpha: np.ndarray, dist: np.ndarray,
) -> np.ndarray:  # fmt: skip
    """`alpha` solved again where the mask looks see-through (transparency_prior): that
    part, grown by glass_window, and the soft pixels are unknown, and the see-through
    pixels are pulled towards their prior alpha. Unchanged where the see-through part is
    smaller than one glass_window square (scattered blends, not a see-through surface)."""
    radius = max(1, round(cfg.glass_window * diag))
    blend = mixture_fraction(rgb, fgd_model, bgd_model, cfg.blend_tolerance, mask)
    clear, prior = transparency_prior(mask, blend, radius, cfg.glass_density)
    if clear.sum() < (2 * radius + 1) ** 2:
        return alpha
    disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    grown = (cv2.dilate(clear.astype(np.uint8), disc) > 0) & (mask | (dist <= cfg.narrow_px))
    trimap = np.where(alpha >= 0.5, 255, 0).astype(np.uint8)
    trimap[grown | ((alpha > 0.02) & (alpha < 0.98))] = 128
    weight = np.where(clear, np.float32(cfg.glass_weight), np.float32(0))
    return closed_form_with_prior(rgb, trimap, prior, weight)


def _validate(
    inst: Instance, shape: tuple[int, int], scale: tuple[float, float], source: str
) -> _Prompt:
    """Check an instance's prompt against the image and map it to working pixels."""
    h, w = shape
    sx, sy = scale
    name = f"instance {inst.id!r}: " if inst.id is not None else ""
    working = (round(w * sx), round(h * sy))  # the working image's width and height
    box = None
    if inst.box is not None:
        values = list(inst.box)
        if len(values) != 4 or not all(math.isfinite(float(v)) for v in values):
            raise InputError(source, f"{name}box must be four numbers [x0, y0, x1, y1]")
        x0, y0, x1, y1 = (float(v) for v in values)
        if x1 <= x0 or y1 <= y0:
            raise InputError(source, f"{name}degenerate box {values}: needs x1 > x0 and y1 > y0")
        if x1 <= 0 or y1 <= 0 or x0 >= w or y0 >= h:
            raise InputError(source, f"{name}box {values} lies outside the image ({w} x {h})")
        # mam's box convention (exclusive corners, mamcli/imaging/boxes.py) -> the working
        # image's inclusive pixel rectangle GrabCut takes
        x0, y0, x1, y1 = max(0.0, x0), max(0.0, y0), min(float(w), x1), min(float(h), y1)
        box = (
            math.floor(x0 * sx),
            math.floor(y0 * sy),
            max(math.floor(x0 * sx), min(math.ceil(x1 * sx), working[0]) - 1),
            max(math.floor(y0 * sy), min(math.ceil(y1 * sy), working[1]) - 1),
        )
    if len(inst.points) != len(inst.point_labels):
        raise InputError(
            source, f"{name}{len(inst.points)} points but {len(inst.point_labels)} labels"
        )
    points = []
    for (px, py), label in zip(inst.points, inst.point_labels, strict=True):
        if label not in (0, 1):
            raise InputError(source, f"{name}point label {label} is not 0 or 1")
        if not (0 <= px <= w and 0 <= py <= h):
            raise InputError(source, f"{name}point ({px}, {py}) lies outside the image ({w} x {h})")
        points.append((min(int(px * sx), working[0] - 1), min(int(py * sy), working[1] - 1)))
    labels = [int(v) for v in inst.point_labels]
    if box is None and 1 not in labels:
        raise InputError(
            source, f"{name}the classic engine needs a box or a foreground point (label 1)"
        )
    return _Prompt(box=box, points=points, labels=labels)


def grabcut(small: np.ndarray, prompt: _Prompt, cfg: ClassicConfig) -> np.ndarray:
    """GrabCut foreground (bool) at the working resolution, seeded as the module says."""
    return grabcut_models(small, prompt, cfg)[0]


def grabcut_models(
    small: np.ndarray, prompt: _Prompt, cfg: ClassicConfig
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """GrabCut foreground (bool) and its foreground and background colour models."""
    h, w = small.shape[:2]
    if prompt.box is not None:
        mask = np.full((h, w), cv2.GC_BGD, np.uint8)
        x0, y0, x1, y1 = prompt.box
        mask[y0 : y1 + 1, x0 : x1 + 1] = cv2.GC_PR_FGD
    else:
        mask = np.full((h, w), cv2.GC_PR_BGD, np.uint8)
        fg = np.array([p for p, lab in zip(prompt.points, prompt.labels, strict=True) if lab])
        grow = round(cfg.point_margin * max(h, w))
        x0, y0 = np.maximum(fg.min(axis=0) - grow, 0)
        x1, y1 = fg.max(axis=0) + grow
        mask[y0 : y1 + 1, x0 : x1 + 1] = cv2.GC_PR_FGD
    radius = max(2, round(cfg.seed_radius * math.hypot(h, w)))
    for (x, y), label in zip(prompt.points, prompt.labels, strict=True):
        cv2.circle(mask, (x, y), radius, cv2.GC_FGD if label else cv2.GC_BGD, -1)
    background = (mask == cv2.GC_BGD) | (mask == cv2.GC_PR_BGD)
    bgd_model = np.zeros((1, 65), np.float64)
    fgd_model = np.zeros((1, 65), np.float64)
    if background.all():  # background seeds cover everything the prompt offered
        return np.zeros((h, w), bool), fgd_model, bgd_model
    if not background.any():  # a box over the whole frame: assume its rim is background
        rim = np.ones((h, w), bool)
        rim[1:-1, 1:-1] = False
        mask[rim & (mask == cv2.GC_PR_FGD)] = cv2.GC_PR_BGD
    cv2.setRNGSeed(0)  # GrabCut's k-means draws from OpenCV's global RNG
    cv2.grabCut(
        np.ascontiguousarray(small), mask, None, bgd_model, fgd_model,
        cfg.grabcut_iters, cv2.GC_INIT_WITH_MASK,
    )  # fmt: skip
    return (mask == cv2.GC_FGD) | (mask == cv2.GC_PR_FGD), fgd_model, bgd_model
