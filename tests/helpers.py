"""Shared test helpers: tiny random-weight SAM and M2M models and synthetic photos."""

from __future__ import annotations

import numpy as np
import torch

from mamcli.model.m2m import M2M
from mamcli.model.sam import TINY_CONFIG, build_sam

TINY_SAM = TINY_CONFIG


def make_tiny_sam(seed: int = 0) -> torch.nn.Module:
    """A random-weight SAM at 256 px (segment-anything modules, default init)."""
    torch.manual_seed(seed)
    sam = build_sam(TINY_SAM).eval()
    return sam


def make_random_m2m(seed: int = 0) -> M2M:
    """A random M2M with non-trivial batch-norm statistics, in eval mode."""
    torch.manual_seed(seed)
    m2m = M2M()
    m2m.reset_parameters()
    for module in m2m.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.weight.data.uniform_(0.5, 1.5)
            module.running_var.uniform_(0.5, 2.0)
            module.running_mean.normal_(0, 0.1)
    return m2m.eval()


def synthetic_photo(height: int = 180, width: int = 240, seed: int = 0) -> np.ndarray:
    """A textured background with a bright soft disc: a stand-in photo (uint8 RGB)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:height, :width]
    background = rng.integers(0, 90, (height, width, 3))
    radius = min(height, width) * 0.3
    dist = np.hypot(yy - height / 2, xx - width / 2)
    alpha = np.clip((radius - dist) / 4 + 0.5, 0, 1)[..., None]
    foreground = np.array([230, 200, 60])
    return (alpha * foreground + (1 - alpha) * background).astype(np.uint8)
