"""MAM's inference-time iterative refinement (docs/model.md) and its morphology.

All maps are N x H x W tensors at the original image size. Dilation and erosion use
OpenCV's elliptical structuring elements with OpenCV's anchor and border rules; on the CPU
they call OpenCV itself, elsewhere a convolution that gives bit-identical masks.
"""

from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from mamcli.model.config import RefineConfig

LOW = 1.0 / 255.0
HIGH = 1.0 - 1.0 / 255.0


@lru_cache(maxsize=64)
def ellipse(size: int) -> np.ndarray:
    """OpenCV's elliptical structuring element of size x size (uint8, anchor (size//2, size//2))."""
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size))


def _dilate_cv2(mask: torch.Tensor, size: int) -> torch.Tensor:
    kernel = ellipse(size)
    planes = mask.to(torch.uint8).numpy()
    out = np.stack([cv2.dilate(plane, kernel) for plane in planes]) if len(planes) else planes
    return torch.from_numpy(out).bool()


def _dilate_conv(mask: torch.Tensor, size: int) -> torch.Tensor:
    kernel = torch.from_numpy(ellipse(size)).to(mask.device, torch.float32)
    anchor = size // 2
    padded = F.pad(
        mask.to(torch.float32).unsqueeze(1), (anchor, size - 1 - anchor, anchor, size - 1 - anchor)
    )
    # Sums of at most size*size ones are exact in fp32 (and in TF32, whose inputs are 0/1).
    return F.conv2d(padded, kernel[None, None]).squeeze(1) > 0.5


def dilate(mask: torch.Tensor, size: int, backend: str = "auto") -> torch.Tensor:
    """cv2.dilate(mask, ellipse(size)) on an N x H x W bool tensor, on the tensor's device."""
    if backend == "auto":
        backend = "cv2" if mask.device.type == "cpu" else "conv"
    return (_dilate_cv2 if backend == "cv2" else _dilate_conv)(mask, size)


def erode(mask: torch.Tensor, size: int, backend: str = "auto") -> torch.Tensor:
    """cv2.erode(mask, ellipse(size)): outside pixels never count, as in OpenCV's default border."""
    return ~dilate(~mask, size, backend)


def box_window(mask: torch.Tensor) -> torch.Tensor:
    """Half-open window [y0, y1) x [x0, x1) of each mask's nonzero pixels (empty if none)."""
    height, width = mask.shape[-2:]
    rows, cols = mask.any(dim=2), mask.any(dim=1)
    ys = torch.arange(height, device=mask.device)
    xs = torch.arange(width, device=mask.device)
    big = torch.iinfo(torch.long).max
    y0 = torch.where(rows, ys, big).amin(dim=1)
    y1 = torch.where(rows, ys, -1).amax(dim=1)
    x0 = torch.where(cols, xs, big).amin(dim=1)
    x1 = torch.where(cols, xs, -1).amax(dim=1)
    in_rows = (ys[None] >= y0[:, None]) & (ys[None] < y1[:, None])
    in_cols = (xs[None] >= x0[:, None]) & (xs[None] < x1[:, None])
    return in_rows[:, :, None] & in_cols[:, None, :]


def _unknown(alpha: torch.Tensor, width: int, two_sided: bool, backend: str) -> torch.Tensor:
    opaque = alpha > HIGH
    if two_sided:
        return dilate((alpha >= LOW) & ~opaque, width // 2, backend)
    return dilate(alpha >= LOW, width // 2, backend) & ~opaque


def refine(
    alpha_os1: torch.Tensor,
    alpha_os4: torch.Tensor,
    alpha_os8: torch.Tensor,
    post_mask: torch.Tensor,
    config: RefineConfig = RefineConfig(),
    backend: str = "auto",
) -> torch.Tensor:
    """Combine the three scales into the final alpha (N x H x W float32 in [0, 1]).

    post_mask is SAM's binary mask at the original size. An empty mask gives an all-zero
    alpha (every pixel is outside its box, where the mask, zero, is taken).
    """
    w8, w4, w1 = config.widths
    mask = post_mask.bool()
    if config.mode == "postprocess":
        alpha = torch.where(box_window(mask), alpha_os8, mask.to(alpha_os8.dtype))
    else:
        outside = ~mask
        if config.two_sided:
            band = ~erode(mask, w8 // 2, backend) & ~erode(outside, w8 // 2, backend)
        else:
            band = outside & ~erode(outside, w8 // 2, backend)
        alpha = torch.where(band, alpha_os8, mask.to(alpha_os8.dtype))
    alpha = torch.where(_unknown(alpha, w4, config.two_sided, backend), alpha_os4, alpha)
    return torch.where(_unknown(alpha, w1, config.two_sided, backend), alpha_os1, alpha)
