"""`mam eval`: compare predicted alpha mattes with ground truth, file by file, in parallel.

`evaluate(EvalConfig(gt=..., pred=...))` matches files by relative path and stem, computes
the matting errors (or, with instances=True, the instance matching quality) and returns an
`EvalReport`; `mamcli.eval.report.write_reports` writes it as JSON, CSV, Markdown and HTML.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from mamcli.errors import InputError, MamError, UsageError
from mamcli.eval.config import GENERATE, EvalConfig
from mamcli.eval.files import existing_dir, index_files, index_instance_dirs, stem_key
from mamcli.eval.hints import same_names_elsewhere, swap_hint
from mamcli.eval.imq import ImqCounts, instance_counts
from mamcli.eval.manifest import read_manifest
from mamcli.eval.metrics import matting_errors
from mamcli.eval.report.thumbs import make_thumbnails
from mamcli.eval.results import EvalReport, ImageResult
from mamcli.imaging.read import COLOUR_PROBLEM, extension_list, is_image_file, load_alpha, read_rgb
from mamcli.imaging.trimap import generate_trimap, unknown_region
from mamcli.runtime.pool import parallel_map

_FILE_ERRORS = (MamError, ValueError, OSError, cv2.error)


@dataclass(frozen=True)
class _Task:
    """One unit of work for a worker process."""

    path: str
    gt: tuple[Path, ...]
    pred: tuple[Path, ...]
    config: EvalConfig
    trimap_source: str | None = None
    trimap: Path | None = None
    image: Path | None = None


def _read_pred(path: Path, shape: tuple[int, ...], task: _Task, notes: list[str]) -> np.ndarray:
    loaded = load_alpha(path, task.config.max_pixels)
    notes.extend(loaded.notes)
    pred = loaded.alpha
    if pred.shape == shape:
        return pred
    if not task.config.resize:
        raise InputError(
            path,
            f"size {pred.shape[1]}x{pred.shape[0]} differs from the ground truth "
            f"{shape[1]}x{shape[0]} (use --resize to resize predictions)",
        )
    return cv2.resize(pred, (shape[1], shape[0]), interpolation=cv2.INTER_LINEAR)


def _read_gt(path: Path, task: _Task) -> np.ndarray:
    return load_alpha(path, task.config.max_pixels).alpha


def _region(task: _Task, gt: np.ndarray) -> np.ndarray:
    if task.trimap_source == "generated":
        return unknown_region(generate_trimap(gt, task.config.trimap_band))
    if task.trimap is None:
        raise MamError("no trimap with this name under the trimap folder")
    trimap = _read_gt(task.trimap, task)
    if trimap.shape != gt.shape:
        if not task.config.resize:
            raise InputError(task.trimap, "trimap size differs from the ground truth")
        size = (gt.shape[1], gt.shape[0])
        trimap = cv2.resize(trimap, size, interpolation=cv2.INTER_NEAREST)
    return unknown_region(trimap)


def _add_thumbs(result: ImageResult, task: _Task, gt: np.ndarray, pred: np.ndarray) -> None:
    """The report's pictures and the largest error, when the HTML report wants them."""
    if not task.config.thumbnails:
        return
    image = read_rgb(task.image, task.config.max_pixels) if task.image else None
    result.thumbnails = make_thumbnails(gt, pred, image)
    result.max_error = float(cv2.absdiff(pred, gt).max()) / 255


def _evaluate_pair(task: _Task) -> ImageResult:
    gt = _read_gt(task.gt[0], task)
    notes: list[str] = []
    pred = _read_pred(task.pred[0], gt.shape, task, notes)
    regions: dict[str, np.ndarray | None] = {"whole": None}
    warning = None
    if task.trimap_source:
        regions["trimap"] = _region(task, gt)
        if not regions["trimap"].any():
            warning = "the trimap has no unknown (128) pixels: its MSE and MAD are undefined"
    errors = matting_errors(pred, gt, regions)
    result = ImageResult(task.path, errors=errors, warning=warning, notes=notes)
    _add_thumbs(result, task, gt, pred)
    return result


def _evaluate_instances(task: _Task) -> ImageResult:
    gts = [_read_gt(p, task) for p in task.gt]
    shape = gts[0].shape
    for path, gt in zip(task.gt, gts, strict=True):
        if gt.shape != shape:
            raise InputError(path, "size differs from the other instances of this image")
    notes: list[str] = []
    preds = [_read_pred(p, shape, task, notes) for p in task.pred]
    result = ImageResult(task.path, instances=instance_counts(preds, gts), notes=notes)
    result.gt_count, result.pred_count = len(gts), len(preds)
    merged_pred = np.max(preds, axis=0) if preds else np.zeros(shape, np.uint8)
    _add_thumbs(result, task, np.max(gts, axis=0), merged_pred)
    return result


def _run(task: _Task) -> ImageResult:
    """Evaluate one task; a bad file becomes an error line, not an exception."""
    try:
        return _evaluate_instances(task) if task.config.instances else _evaluate_pair(task)
    except _FILE_ERRORS as exc:
        return ImageResult(task.path, error=str(exc))


def prediction_root(pred_root: Path) -> Path:
    """The folder holding the predictions: `alpha/` of a `mam matte` output root, else the root."""
    alpha = pred_root / "alpha"
    return alpha if alpha.is_dir() else pred_root


def _folder_alpha(folder: Path) -> Path | None:
    """The only alpha inside a per-image folder; an error when there are several."""
    if not folder.is_dir():
        return None
    files = sorted(p for p in folder.iterdir() if p.is_file() and is_image_file(p))
    if len(files) > 1:
        raise MamError(f"{folder}: holds {len(files)} instance alphas (use --instances)")
    return files[0] if files else None


@dataclass
class _Plan:
    tasks: list[_Task] = field(default_factory=list)
    done: list[ImageResult] = field(default_factory=list)  # results known without work
    missing: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)


def _plan_pairs(
    gt_root: Path,
    pred_root: Path,
    trimaps: dict,
    images: dict,
    config: EvalConfig,
    trimap_source: str | None,
) -> _Plan:
    """GT `<key>.png` pairs with predicted `<key>.*`; failing that with the only alpha in a
    folder `<key>/`, or, for GT `<image>/<id>.png` alone in its folder, with `<image>.*`
    (`mam matte` writes a single instance's alpha there)."""
    gt_files, gt_ambiguous = index_files(gt_root)
    pred_files, pred_ambiguous = index_files(pred_root)
    siblings = Counter(Path(key).parent.as_posix() for key in gt_files)
    not_images = _other_files(pred_root)
    plan = _Plan()
    plan.done = [ImageResult(k, error="several GT files share this name") for k in gt_ambiguous]
    for key, gt_path in gt_files.items():
        rel = gt_path.relative_to(gt_root).as_posix()
        parent = Path(key).parent.as_posix()
        try:
            if key in pred_ambiguous:
                raise MamError(f"{pred_root / key}.*: several predictions share this name")
            pred = pred_files.get(key) or _folder_alpha(pred_root / key)
            if pred is None and siblings[parent] == 1:
                pred = pred_files.get(parent)
        except MamError as exc:
            plan.done.append(ImageResult(rel, error=str(exc)))
            continue
        if pred is None and key in not_images:
            problem = f"not an image file, so no prediction for {rel} ({extension_list()})"
            plan.done.append(ImageResult(rel, error=f"{not_images[key]}: {problem}"))
            continue
        if pred is None:
            plan.missing.append(rel)
            continue
        trimap, image = trimaps.get(key), images.get(key)
        plan.tasks.append(_Task(rel, (gt_path,), (pred,), config, trimap_source, trimap, image))
    # Not extra: a GT name, an instance inside a GT name's folder, a GT folder's merged alpha.
    known = (set(gt_files) | set(gt_ambiguous) | set(siblings)) - {"."}
    plan.extra = [
        path.relative_to(pred_root).as_posix()
        for key, path in pred_files.items()
        if key not in known and Path(key).parent.as_posix() not in known
    ]
    return plan


def _other_files(root: Path) -> dict[str, Path]:
    """Stem key -> file for the visible files under `root` without an image extension."""
    return {
        stem_key(path.relative_to(root)): path
        for path in sorted(root.rglob("*"))
        if path.is_file() and not path.name.startswith(".") and not is_image_file(path)
    }


def _looks_colour(pred_files: dict[str, Path], max_pixels: int, sample: int = 3) -> bool:
    """True when one of the first `sample` predictions is a colour photo."""
    for path in list(pred_files.values())[:sample]:
        try:
            load_alpha(path, max_pixels)
        except InputError as exc:
            if COLOUR_PROBLEM in exc.problem:
                return True
    return False


def _plan_instances(gt_root: Path, pred_root: Path, images: dict, config: EvalConfig) -> _Plan:
    """GT `<key>/<id>.png` pairs with predicted `<key>/*.png` (the folder `mam matte` writes
    for several instances) or, failing that, `<key>.png` (its file for a single instance)."""
    gt_dirs = index_instance_dirs(gt_root)
    pred_dirs = index_instance_dirs(pred_root)
    pred_files = index_files(pred_root)[0]
    plan = _Plan()
    used: set[Path] = set()
    for key, gt_paths in gt_dirs.items():
        preds = pred_dirs.get(key) or ([pred_files[key]] if key in pred_files else [])
        used.update(preds)
        if key in pred_files:
            used.add(pred_files[key])  # the merged alpha beside an instance folder
        if not preds:
            plan.missing.append(key)
            misses = ImqCounts(fn=len(gt_paths))
            plan.done.append(ImageResult(key, instances=misses, gt_count=len(gt_paths)))
            continue
        plan.tasks.append(_Task(key, tuple(gt_paths), tuple(preds), config, image=images.get(key)))
    every_pred = (p for paths in pred_dirs.values() for p in paths)
    plan.extra = [p.relative_to(pred_root).as_posix() for p in every_pred if p not in used]
    return plan


def evaluate(config: EvalConfig) -> EvalReport:
    """Evaluate the predictions under `config.pred` against the GT under `config.gt`
    (docs/eval.md; each option's meaning is its `EvalConfig` field's help).

    Raises UsageError for a bad option or root folder; a bad file is an error line in the
    report.
    """
    config.validate()
    trimap, instances, images = config.trimap, config.instances, config.images
    gt_dir = existing_dir(config.gt, "ground-truth")
    pred_given = existing_dir(config.pred, "prediction")
    pred_dir = prediction_root(pred_given)
    manifest = read_manifest(pred_given)
    trimap_source = None
    trimap_files: dict[str, Path] = {}
    if trimap is not None and str(trimap) == GENERATE:
        trimap_source = "generated"
    elif trimap is not None:
        trimap_source = "given"
        trimap_files = index_files(existing_dir(trimap, "trimap"))[0]
    image_files = index_files(existing_dir(images, "image"))[0] if images else {}
    if not images and manifest is not None:
        image_files = {key: path for key, path in manifest.inputs.items() if path.is_file()}
    if instances:
        plan = _plan_instances(gt_dir, pred_dir, image_files, config)
    else:
        plan = _plan_pairs(gt_dir, pred_dir, trimap_files, image_files, config, trimap_source)
    if not plan.tasks and not plan.done and not plan.missing:
        raise UsageError(f"{gt_dir}: no ground-truth alpha images found")
    done = parallel_map(_run, plan.tasks, config.workers, "eval", config.progress)
    results = plan.done + list(done)
    hint = None
    if not any(r.error is None and r.path not in plan.missing for r in results):
        pred_files = index_files(pred_dir)[0]
        errors = [r.error for r in results if r.error]
        gt_count = len(plan.tasks) + len(plan.missing) + len(plan.done)
        colour = _looks_colour(pred_files, config.max_pixels)
        elsewhere = same_names_elsewhere(list(index_files(gt_dir)[0]), list(pred_files))
        hint = swap_hint(gt_dir, gt_count, len(pred_files), errors, colour, elsewhere)
    return EvalReport(
        gt_root=str(gt_dir),
        pred_root=str(pred_dir),
        instances=instances,
        trimap_source=trimap_source,
        images=sorted(results, key=lambda r: r.path),
        missing=sorted(plan.missing),
        extra=sorted(plan.extra),
        skip_missing=config.skip_missing,
        hint=hint,
        manifest=manifest,
    )
