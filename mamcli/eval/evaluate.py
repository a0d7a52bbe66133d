"""`mam eval`: compare predicted alpha mattes with ground truth, file by file, in parallel.

`evaluate(gt_root, pred_root, ...)` matches files by relative path and stem, computes the
matting errors (or, with instances=True, the instance matching quality) and returns an
`EvalReport`; `mamcli.eval.report.write_reports` writes it as JSON, CSV, Markdown and HTML.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from mamcli.errors import MamError
from mamcli.eval.files import (
    existing_dir,
    index_files,
    index_instance_dirs,
    is_image,
    read_alpha,
    read_rgb,
)
from mamcli.eval.imq import ImqCounts, instance_counts
from mamcli.eval.metrics import METRICS, matting_errors, to_report_units
from mamcli.eval.report.thumbs import make_thumbnails
from mamcli.imaging.trimap import DEFAULT_BAND, generate_trimap, unknown_region
from mamcli.runtime.pool import parallel_map

GENERATE = "generate"
_FILE_ERRORS = (MamError, ValueError, OSError, cv2.error)


@dataclass
class ImageResult:
    """The evaluation of one GT file (or, for instances, one GT folder).

    errors: region ("whole", "trimap") -> metric -> raw value (see metrics.matting);
    instances: matching counts for IMQ; error: why this file could not be evaluated;
    warning: something the reader should know (e.g. an empty unknown region);
    thumbnails: encoded pictures for the HTML report, when asked for.
    """

    path: str
    errors: dict[str, dict[str, float]] | None = None
    instances: ImqCounts | None = None
    gt_count: int = 0
    pred_count: int = 0
    error: str | None = None
    warning: str | None = None
    thumbnails: dict[str, bytes] | None = None


@dataclass
class EvalReport:
    """Everything `mam eval` found: per-file results, unmatched files and the settings.

    trimap_source is "given", "generated" or None (no trimap region); missing lists GT
    paths without a prediction, extra lists predictions without GT.
    """

    gt_root: str
    pred_root: str
    instances: bool
    trimap_source: str | None
    images: list[ImageResult]
    missing: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)
    skip_missing: bool = False

    @property
    def regions(self) -> tuple[str, ...]:
        return ("whole", "trimap") if self.trimap_source else ("whole",)

    @property
    def evaluated(self) -> list[ImageResult]:
        """Results with numbers (no error, prediction present)."""
        missing = set(self.missing)
        return [r for r in self.images if r.error is None and r.path not in missing]

    @property
    def failed(self) -> list[ImageResult]:
        return [r for r in self.images if r.error is not None]

    @property
    def exit_code(self) -> int:
        """0 when every GT file was evaluated, 1 when some failed or are missing (missing
        instance folders left out on purpose with skip_missing do not count)."""
        counted_missing = self.missing and not (self.instances and self.skip_missing)
        return 1 if counted_missing or self.failed else 0

    def mean(self) -> dict[str, dict[str, float]]:
        """Mean over images per region, in report units; NaN values (MSE and MAD over an
        empty unknown region) are left out of their metric's mean."""
        means = {}
        for region in self.regions:
            rows = [to_report_units(r.errors[region]) for r in self.evaluated if r.errors]
            means[region] = {m: _nanmean([row[m] for row in rows]) for m in METRICS}
        return means

    def imq(self) -> dict[str, object]:
        """IMQ, RQ and MQ over the whole set (instances mode). Images without a prediction
        folder count their GT instances as misses unless skip_missing was set."""
        total = ImqCounts()
        for result in self.images:
            skipped = self.skip_missing and result.path in self.missing
            if result.instances is not None and not skipped:
                total = total + result.instances
        return total.scores()


def _nanmean(values: list[float]) -> float:
    finite = [v for v in values if not math.isnan(v)]
    return sum(finite) / len(finite) if finite else math.nan


@dataclass(frozen=True)
class _Task:
    """One unit of work for a worker process."""

    path: str
    gt: tuple[Path, ...]
    pred: tuple[Path, ...]
    instances: bool = False
    trimap_source: str | None = None
    trimap: Path | None = None
    band: int = DEFAULT_BAND
    resize: bool = False
    image: Path | None = None
    thumbnails: bool = False


def _read_pred(path: Path, shape: tuple[int, ...], resize: bool) -> np.ndarray:
    pred = read_alpha(path)
    if pred.shape == shape:
        return pred
    if not resize:
        raise MamError(
            f"{path}: size {pred.shape[1]}x{pred.shape[0]} differs from the ground truth "
            f"{shape[1]}x{shape[0]} (use --resize to resize predictions)"
        )
    return cv2.resize(pred, (shape[1], shape[0]), interpolation=cv2.INTER_LINEAR)


def _region(task: _Task, gt: np.ndarray) -> np.ndarray:
    if task.trimap_source == "generated":
        return unknown_region(generate_trimap(gt, task.band))
    if task.trimap is None:
        raise MamError("no trimap with this name under the trimap folder")
    trimap = read_alpha(task.trimap)
    if trimap.shape != gt.shape:
        if not task.resize:
            raise MamError(f"{task.trimap}: trimap size differs from the ground truth")
        size = (gt.shape[1], gt.shape[0])
        trimap = cv2.resize(trimap, size, interpolation=cv2.INTER_NEAREST)
    return unknown_region(trimap)


def _thumbs(task: _Task, gt: np.ndarray, pred: np.ndarray) -> dict[str, bytes] | None:
    if not task.thumbnails:
        return None
    image = read_rgb(task.image) if task.image else None
    return make_thumbnails(gt, pred, image)


def _evaluate_pair(task: _Task) -> ImageResult:
    gt = read_alpha(task.gt[0])
    pred = _read_pred(task.pred[0], gt.shape, task.resize)
    regions: dict[str, np.ndarray | None] = {"whole": None}
    warning = None
    if task.trimap_source:
        regions["trimap"] = _region(task, gt)
        if not regions["trimap"].any():
            warning = "the trimap has no unknown (128) pixels: its MSE and MAD are undefined"
    result = ImageResult(task.path, errors=matting_errors(pred, gt, regions), warning=warning)
    result.thumbnails = _thumbs(task, gt, pred)
    return result


def _evaluate_instances(task: _Task) -> ImageResult:
    gts = [read_alpha(p) for p in task.gt]
    shape = gts[0].shape
    for path, gt in zip(task.gt, gts, strict=True):
        if gt.shape != shape:
            raise MamError(f"{path}: size differs from the other instances of this image")
    preds = [_read_pred(p, shape, task.resize) for p in task.pred]
    result = ImageResult(task.path, instances=instance_counts(preds, gts))
    result.gt_count, result.pred_count = len(gts), len(preds)
    if task.thumbnails:
        composite_pred = np.max(preds, axis=0) if preds else np.zeros(shape, np.uint8)
        result.thumbnails = _thumbs(task, np.max(gts, axis=0), composite_pred)
    return result


def _run(task: _Task) -> ImageResult:
    """Evaluate one task; a bad file becomes an error line, not an exception."""
    try:
        return _evaluate_instances(task) if task.instances else _evaluate_pair(task)
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
    files = sorted(p for p in folder.iterdir() if p.is_file() and is_image(p))
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
    gt_root: Path, pred_root: Path, trimaps: dict, images: dict, options: dict
) -> _Plan:
    """GT `<key>.png` pairs with predicted `<key>.*`; failing that with the only alpha in a
    folder `<key>/`, or, for GT `<image>/<id>.png` alone in its folder, with `<image>.*`
    (`mam matte` writes a single instance's alpha there)."""
    gt_files, gt_ambiguous = index_files(gt_root)
    pred_files, pred_ambiguous = index_files(pred_root)
    siblings = Counter(Path(key).parent.as_posix() for key in gt_files)
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
        if pred is None:
            plan.missing.append(rel)
            continue
        trimap, image = trimaps.get(key), images.get(key)
        plan.tasks.append(_Task(rel, (gt_path,), (pred,), trimap=trimap, image=image, **options))
    # Not extra: a GT name, an instance inside a GT name's folder, a GT folder's merged alpha.
    known = (set(gt_files) | set(gt_ambiguous) | set(siblings)) - {"."}
    plan.extra = [
        path.relative_to(pred_root).as_posix()
        for key, path in pred_files.items()
        if key not in known and Path(key).parent.as_posix() not in known
    ]
    return plan


def _plan_instances(gt_root: Path, pred_root: Path, images: dict, options: dict) -> _Plan:
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
        image = images.get(key)
        plan.tasks.append(_Task(key, tuple(gt_paths), tuple(preds), True, image=image, **options))
    every_pred = (p for paths in pred_dirs.values() for p in paths)
    plan.extra = [p.relative_to(pred_root).as_posix() for p in every_pred if p not in used]
    return plan


def evaluate(
    gt_root: str | Path,
    pred_root: str | Path,
    *,
    trimap: str | Path | None = None,
    instances: bool = False,
    images: str | Path | None = None,
    resize: bool = False,
    band: int = DEFAULT_BAND,
    skip_missing: bool = False,
    workers: int | None = None,
    thumbnails: bool = False,
    progress: bool = False,
) -> EvalReport:
    """Evaluate the predictions under `pred_root` against the GT under `gt_root`.

    trimap: a folder of trimaps (matched like the alphas) for the unknown-region metrics,
    or "generate" for a band of `band` pixels around the GT; instances: one folder per
    image with one alpha per instance, scored with IMQ; images: a folder of the original
    images (HTML thumbnails only); resize: resize predictions of another size instead of
    reporting an error; skip_missing: instances mode, leave images without a prediction
    folder out of IMQ (the benchmark script's behaviour) instead of counting misses;
    thumbnails: collect the pictures the HTML report shows.
    Raises MamError for a bad root folder; a bad file is an error line in the report.
    """
    gt_dir = existing_dir(gt_root, "ground-truth")
    pred_dir = prediction_root(existing_dir(pred_root, "prediction"))
    if instances and trimap is not None:
        raise MamError("--trimap is not used with --instances (IMQ has no trimap region)")
    trimap_source = None
    trimap_files: dict[str, Path] = {}
    if trimap is not None and str(trimap) == GENERATE:
        trimap_source = "generated"
    elif trimap is not None:
        trimap_source = "given"
        trimap_files = index_files(existing_dir(trimap, "trimap"))[0]
    image_files = index_files(existing_dir(images, "image"))[0] if images else {}
    options = {"band": band, "resize": resize, "thumbnails": thumbnails}
    if instances:
        plan = _plan_instances(gt_dir, pred_dir, image_files, options)
    else:
        options["trimap_source"] = trimap_source
        plan = _plan_pairs(gt_dir, pred_dir, trimap_files, image_files, options)
    if not plan.tasks and not plan.done and not plan.missing:
        raise MamError(f"{gt_dir}: no ground-truth alpha images found")
    results = plan.done + list(parallel_map(_run, plan.tasks, workers, "eval", progress))
    return EvalReport(
        gt_root=str(gt_dir),
        pred_root=str(pred_dir),
        instances=instances,
        trimap_source=trimap_source,
        images=sorted(results, key=lambda r: r.path),
        missing=sorted(plan.missing),
        extra=sorted(plan.extra),
        skip_missing=skip_missing,
    )
