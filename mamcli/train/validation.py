"""Validation during training, through the shipped inference path.

The weights of the M2M being trained are loaded (strictly, as `mam matte` loads a
checkpoint) into an eval-mode M2M inside `mamcli.model.api.MattingAnything` (the default
inference options, the run's precision), so the numbers are what `mam matte` would
produce with that checkpoint; the training module itself is left untouched. The baseline
is the same model without M2M: SAM's own mask at full size.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import DataLoader

from mamcli.eval.metrics import REPORT_SCALE, abs_error_map, region_sum
from mamcli.imaging.write import alpha_to_uint
from mamcli.model.api import MattingAnything
from mamcli.model.m2m import M2M
from mamcli.results import Instance

METRICS = ("val_sad", "val_mse", "baseline_sad")


def _sad(pred: np.ndarray, gt: np.ndarray) -> float:
    return region_sum(abs_error_map(pred, gt), None) * REPORT_SCALE["sad"]


def _mse(pred: np.ndarray, gt: np.ndarray) -> float:
    return region_sum(abs_error_map(pred, gt) ** 2, None) / gt.size * REPORT_SCALE["mse"]


def validate(
    m2m: M2M, sam: torch.nn.Module, loader: DataLoader, device: torch.device, precision: str
) -> dict[str, float]:
    """Mean SAD and MSE (paper units, 8-bit alphas) of `mam matte`'s alpha for each item's
    box, and the SAD of SAM's mask alone.

    (A copy, not the module: a training-mode spectral norm holds a computed weight that
    cannot be copied, and inference folds its own copy of the layers.)
    """
    weights = M2M(sam.mask_decoder.transformer_dim)
    weights.load_state_dict(m2m.state_dict(), strict=True)
    model = MattingAnything(sam, weights, device, precision)
    totals = dict.fromkeys(METRICS, 0.0)
    count = 0
    for batch in loader:
        images = [model.sam.prepare(image.permute(1, 2, 0).numpy()) for image in batch["image"]]
        encoded = model.encode(images)
        for image, box, gt in zip(encoded, batch["box"], batch["alpha"], strict=True):
            instance = [Instance(id="val", box=tuple(box.tolist()))]
            matte = model.matte(image, instance)[0]
            mask = model.matte(image, instance, use_m2m=False)[0]
            truth = alpha_to_uint(gt[0].numpy())
            pred = alpha_to_uint(matte.alpha)
            totals["val_sad"] += _sad(pred, truth)
            totals["val_mse"] += _mse(pred, truth)
            totals["baseline_sad"] += _sad(alpha_to_uint(mask.alpha), truth)
            count += 1
    return {name: value / count for name, value in totals.items()}
