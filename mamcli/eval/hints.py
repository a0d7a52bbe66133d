"""A hint for a run where no prediction matched: were --gt and --pred swapped?"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from mamcli.eval.manifest import MANIFEST_NAME
from mamcli.imaging.read import COLOUR_PROBLEM

SWAP_HINT = "did you swap --gt and --pred?"
# The GT folder "has many more files" than the prediction folder from this ratio on.
MANY_MORE = 2


def same_names_elsewhere(gt_keys: list[str], pred_keys: list[str]) -> tuple[str, str] | None:
    """A (GT key, prediction key) pair with the same file name in different folders."""
    by_name = {PurePosixPath(key).name: key for key in gt_keys}
    for key in pred_keys:
        gt_key = by_name.get(PurePosixPath(key).name)
        if gt_key is not None and gt_key != key:
            return gt_key, key
    return None


def swap_hint(
    gt_root: Path,
    gt_count: int,
    pred_count: int,
    errors: list[str],
    colour_preds: bool,
    elsewhere: tuple[str, str] | None = None,
) -> str | None:
    """Why the folders look swapped or misaimed, ending in SWAP_HINT; None when they do not.

    Asked only when no prediction was evaluated. Signs: the GT folder is a `mam matte`
    output root, the predictions are colour photos, the prediction names are GT names in
    another folder (`elsewhere`), or the GT folder holds many more images.
    """
    if (gt_root / MANIFEST_NAME).is_file() or (gt_root / "alpha").is_dir():
        reason = f"the ground-truth folder {gt_root} looks like a `mam matte` output"
    elif colour_preds or any(COLOUR_PROBLEM in error for error in errors):
        reason = "the predictions are colour photos, not alpha mattes"
    elif elsewhere is not None:
        gt_key, pred_key = elsewhere
        reason = f"prediction {pred_key} has the name of ground truth {gt_key} in another folder"
    elif gt_count > MANY_MORE * pred_count:
        reason = f"the ground truth has {gt_count} images, the predictions only {pred_count}"
    else:
        return None
    return f"no prediction matched: {reason}; {SWAP_HINT}"
