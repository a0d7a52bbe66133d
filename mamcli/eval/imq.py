"""Instance matting quality (IMQ, Sun et al., CVPR 2022).

Instances are binarised at alpha > 0 and matched one-to-one by IoU (Hungarian algorithm on
1 - IoU); a match with IoU >= 0.5 is a true positive. For each true positive, errors are
averaged over the union U of the two masks, alphas scaled to [0, 1]:
MAD = sum_U |p - g| / (|U| + 1), likewise MSE, Grad and Conn, and the similarity is
s = 1 - min(10 error, 1). Over a whole set, with FP = predicted - TP and FN = GT - TP:
IMQ = 100 sum(s) / (TP + FP/2 + FN/2), RQ = TP / (TP + FP/2 + FN/2), MQ = mean s over TPs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from mamcli.eval.metrics import abs_error_map, conn_error_map, grad_error_map, region_sum

IMQ_METRICS = ("mad", "mse", "grad", "conn")
# The instance scores `mam eval --instances` reports (higher is better), defined once.
IMQ_SCORES = {
    "imq": "IMQ (0-100): instance matting quality per error metric (MAD, MSE, Grad, Conn)",
    "rq": "RQ (0-1): recognition quality TP / (TP + FP/2 + FN/2), a match is IoU >= 0.5",
    "mq": "MQ (0-1): matting quality, the mean similarity over matched instances",
}
IOU_THRESHOLD = 0.5
SIMILARITY_WEIGHT = 10.0


def iou_matrix(pred_masks: list[np.ndarray], gt_masks: list[np.ndarray]) -> np.ndarray:
    """IoU of every (predicted, GT) pair of boolean masks; 0 where the union is empty."""
    if not pred_masks or not gt_masks:
        return np.zeros((len(pred_masks), len(gt_masks)))
    p = np.stack([m.ravel() for m in pred_masks]).astype(np.float64)
    g = np.stack([m.ravel() for m in gt_masks]).astype(np.float64)
    inter = p @ g.T
    union = p.sum(1)[:, None] + g.sum(1)[None, :] - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def match_instances(
    pred_masks: list[np.ndarray], gt_masks: list[np.ndarray]
) -> list[tuple[int, int, float]]:
    """True-positive pairs (pred index, GT index, IoU): the Hungarian matching on 1 - IoU,
    keeping pairs with IoU >= 0.5."""
    iou = iou_matrix(pred_masks, gt_masks)
    if iou.size == 0:
        return []
    from scipy.optimize import linear_sum_assignment  # heavy: only when matching

    rows, cols = linear_sum_assignment(1.0 - iou)
    pairs = zip(rows.tolist(), cols.tolist(), strict=True)
    return [(r, c, float(iou[r, c])) for r, c in pairs if iou[r, c] >= IOU_THRESHOLD]


def pair_errors(pred: np.ndarray, gt: np.ndarray) -> dict[str, float]:
    """MAD, MSE, Grad and Conn of one matched pair (uint8 alphas), averaged over the union
    of their binarised masks as sum / (|U| + 1). Grad uses alphas / 255 (no min-max)."""
    union = (pred > 0) | (gt > 0)
    denominator = np.count_nonzero(union) + 1
    abs_map = abs_error_map(pred, gt)
    maps = {
        "mad": abs_map,
        "mse": np.square(abs_map),
        "grad": grad_error_map(pred, gt, normalise="255"),
        "conn": conn_error_map(pred, gt),
    }
    return {name: region_sum(error, union) / denominator for name, error in maps.items()}


def similarity(error: float) -> float:
    """s = 1 - min(10 error, 1)."""
    return 1.0 - min(SIMILARITY_WEIGHT * error, 1.0)


@dataclass
class ImqCounts:
    """Matching counts and similarity sums, additive over images."""

    tp: int = 0
    fp: int = 0
    fn: int = 0
    similarity_sum: dict[str, float] = field(
        default_factory=lambda: dict.fromkeys(IMQ_METRICS, 0.0)
    )

    def __add__(self, other: ImqCounts) -> ImqCounts:
        return ImqCounts(
            self.tp + other.tp,
            self.fp + other.fp,
            self.fn + other.fn,
            {m: self.similarity_sum[m] + other.similarity_sum[m] for m in IMQ_METRICS},
        )

    def scores(self) -> dict[str, object]:
        """{"imq": {metric: 0..100}, "rq": 0..1, "mq": {metric: 0..1}, "tp", "fp", "fn"};
        NaN where a denominator is zero."""
        denominator = self.tp + self.fp / 2 + self.fn / 2

        def ratio(num: float, den: float) -> float:
            return num / den if den else math.nan

        return {
            "imq": {m: 100 * ratio(self.similarity_sum[m], denominator) for m in IMQ_METRICS},
            "rq": ratio(self.tp, denominator),
            "mq": {m: ratio(self.similarity_sum[m], self.tp) for m in IMQ_METRICS},
            "tp": self.tp,
            "fp": self.fp,
            "fn": self.fn,
        }


def instance_counts(preds: list[np.ndarray], gts: list[np.ndarray]) -> ImqCounts:
    """Match the predicted instances of one image to its GT instances (uint8 alphas) and
    return the counts and similarity sums."""
    matches = match_instances([p > 0 for p in preds], [g > 0 for g in gts])
    sums = dict.fromkeys(IMQ_METRICS, 0.0)
    for p_index, g_index, _ in matches:
        for name, error in pair_errors(preds[p_index], gts[g_index]).items():
            sums[name] += similarity(error)
    tp = len(matches)
    return ImqCounts(tp, len(preds) - tp, len(gts) - tp, sums)
