"""`mam matte` as a library call: `run_matte(MatteConfig(...)) -> RunSummary`.

Stages overlap: loader threads decode images and resize them for SAM while the model
runs; the encoder takes `batch_size` images at a time; every prompt of an image is
decoded together; a writer thread encodes and writes the outputs. Each image ends with an
atomically written record, which is what resume and the manifest are built from.
"""

from __future__ import annotations

import errno
import os
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict
from pathlib import Path, PurePosixPath

import numpy as np
import torch

from mamcli.engines.mam import Engine, Job, MamEngine, build_engine
from mamcli.errors import InputError, MamError, OutputError
from mamcli.imaging import compose
from mamcli.imaging.read import load_rgb
from mamcli.imaging.write import OutputLayout, alpha_to_uint, write_image
from mamcli.matte.config import MatteConfig
from mamcli.matte.inputs import find_images, output_names
from mamcli.matte.pause import release, with_test_pause
from mamcli.matte.record import ImageRecord, Status
from mamcli.matte.resume import ResumeCheck, file_stat
from mamcli.matte.summary import Progress, RunSummary
from mamcli.model.devices import emulated_precision
from mamcli.prompts.auto import AutoPrompter
from mamcli.prompts.text import TextDetector, ground_instances
from mamcli.results import ImageItem, Instance, InstanceMatte
from mamcli.runtime import distributed
from mamcli.runtime.atomic import atomic_write_text
from mamcli.runtime.lock import OutputLock
from mamcli.runtime.memory import reuse_freed_memory
from mamcli.runtime.pool import prefetch
from mamcli.runtime.warm_import import PATIENCE_S, PYMATTING_WAIT, BackgroundImport


class _Run:
    """State of one rank's run: the engine, the output layout and the finished records."""

    def __init__(self, config: MatteConfig, engine: Engine, note: str, progress: Progress) -> None:
        self.config = config
        self.engine = engine
        self.progress = progress
        self.engine_info = {**engine.describe(), "choice": note}
        self.resume = ResumeCheck(config, engine.identity())
        self.layout = self.resume.layout
        sam = engine.model.sam.tool_sam() if isinstance(engine, MamEngine) else None
        self.auto = AutoPrompter(config.auto, sam, config.auto_instances())
        self.records: list[ImageRecord] = []
        self.fatal: OutputError | None = None
        self._detector: TextDetector | None = None
        # loads (or on a fresh install compiles) while models load and images decode
        self._pymatting = (
            BackgroundImport("pymatting") if config.needs_pymatting(engine.name) else None
        )

    def await_pymatting(self) -> None:
        """Before the first image needs pymatting: wait for its import, saying why if long."""
        if self._pymatting is not None:
            self._pymatting.wait(PATIENCE_S, lambda: self.progress.notice(PYMATTING_WAIT))
            self._pymatting = None

    def finish(self, record: ImageRecord) -> None:
        """An image is done (any status): keep its record and tell the progress display."""
        self.records.append(record)
        self.progress.image_done(record)

    def detector(self) -> TextDetector:
        """The text detector, loaded on first use (only runs with text prompts need it)."""
        if self._detector is None:
            device = self.engine.model.device if isinstance(self.engine, MamEngine) else "cpu"
            self._detector = TextDetector.from_pretrained(self.config.detector, device)
        return self._detector

    # -- stages -------------------------------------------------------------------------
    def load(self, item: ImageItem) -> tuple[Job | None, ImageRecord]:
        """Decode, find prompts and prepare for the model (runs in loader threads)."""
        record = self.new_record(item)
        start = time.perf_counter()
        try:
            loaded = load_rgb(item.path, self.config.max_pixels)
            record.timings["decode"] = time.perf_counter() - start
            record.notes += loaded.notes
            height, width = loaded.rgb.shape[:2]
            record.size = [width, height]
            prompts = self.config.prompts.prompts_for(item, (width, height))
            instances: list[Instance] = []
            if prompts is not None:
                instances = prompts.instances
                record.prompt_source = prompts.source
                record.warnings += prompts.warnings
            start = time.perf_counter()
            job = Job(loaded.rgb, instances, self.engine.prepare(loaded.rgb), source=str(item.path))
            record.timings["prepare"] = time.perf_counter() - start
            return job, record
        except Exception as exc:  # a fault in one image fails that image only
            return None, self.fail(record, exc)

    def new_record(self, item: ImageItem) -> ImageRecord:
        return ImageRecord(
            input=os.path.abspath(item.path),  # absolute, like the output paths
            rel=str(item.rel),
            prompt_identity=self.resume.prompt_identity(item),
            input_stat=file_stat(item.path),
            engine=self.engine_info,
            settings=self.resume.fingerprint,
        )

    def fail(self, record: ImageRecord, exc: BaseException) -> ImageRecord:
        """Fail one image with one line naming the file and the problem."""
        if isinstance(exc, InputError):
            return record.fail(" ".join(str(exc).split()))
        detail = str(exc) if isinstance(exc, MamError) else f"{type(exc).__name__}: {exc}"
        return record.fail(" ".join(f"{record.input}: {detail}".split()))  # one line

    def complete_prompts(self, job: Job, record: ImageRecord) -> None:
        """Text -> boxes, and `--text`/`--auto` for images with no prompt (main thread: these
        may run the detector or SAM)."""
        start = time.perf_counter()
        if not job.instances and not record.prompt_source and self.config.text:
            job.instances = [Instance(id="0", text=self.config.text)]
            record.prompt_source = "text"
        if any(i.text is not None and i.box is None for i in job.instances):
            grounded = ground_instances(
                self.detector(), job.rgb, job.instances, self.config.text_detector()
            )
            job.instances = grounded.instances
            record.text_detections = grounded.detections
            record.warnings += grounded.warnings
            record.timings["text"] = time.perf_counter() - start
        elif not job.instances and not record.prompt_source:
            job.instances = self.auto.instances(job.rgb)
            record.timings["auto"] = time.perf_counter() - start
            record.prompt_source = f"auto-{self.config.auto}"

    def write(
        self, item: ImageItem, job: Job, mattes: list[InstanceMatte], record: ImageRecord
    ) -> ImageRecord:
        """Write the requested outputs, then the record (runs in the writer thread)."""
        start = time.perf_counter()
        config, layout, rel = self.config, self.layout, item.rel
        alpha = np.clip(np.sum([m.alpha for m in mattes], axis=0), 0.0, 1.0).astype(np.float32)
        outputs: dict[str, str] = {}
        if "alpha" in config.outputs:
            outputs["alpha"] = str(layout.alpha(rel))
            write_image(layout.alpha(rel), alpha_to_uint(alpha, config.alpha_depth))
            if len(mattes) > 1:
                for instance, matte in zip(job.instances, mattes, strict=True):
                    path = layout.instance_alpha(rel, instance.id or "0")
                    write_image(path, alpha_to_uint(matte.alpha, config.alpha_depth))
                    outputs[f"alpha/{instance.id}"] = str(path)
        if "mask" in config.outputs:
            mask = np.any([m.mask for m in mattes], axis=0)
            outputs["mask"] = str(layout.mask(rel))
            write_image(layout.mask(rel), mask.astype(np.uint8) * 255)
        if "cutout" in config.outputs or "composite" in config.outputs:
            outputs.update(self._write_cutout_and_composite(rel, job.rgb, alpha))
        record.timings["write"] = time.perf_counter() - start
        record.status, record.outputs = Status.OK, outputs
        atomic_write_text(layout.record(rel), record.to_json())
        return record

    def _write_cutout_and_composite(
        self, rel: PurePosixPath, rgb: np.ndarray, alpha: np.ndarray
    ) -> dict[str, str]:
        config, layout = self.config, self.layout
        foreground = compose.estimate_foreground(rgb, alpha) if config.estimate_foreground else rgb
        box = compose.crop_box(alpha, config.margin) if config.crop_to_subject else None
        x0, y0, x1, y1 = box or (0, 0, rgb.shape[1], rgb.shape[0])
        crop = (slice(y0, y1), slice(x0, x1))
        written = {}
        if "cutout" in config.outputs:
            cutout = compose.cutout_rgba(rgb[crop], alpha[crop], foreground[crop])
            write_image(layout.cutout(rel), cutout)
            written["cutout"] = str(layout.cutout(rel))
        if "composite" in config.outputs:
            background = compose.load_background(config.background, (y1 - y0, x1 - x0), str(rel))
            image = compose.composite(foreground[crop], alpha[crop], background)
            path = layout.composite(rel, config.composite_suffix)
            write_image(path, image, config.composite_suffix)
            written["composite"] = str(path)
        return written


def _describe_instances(instances: list[Instance], mattes: list[InstanceMatte]) -> list[dict]:
    described = []
    for instance, matte in zip(instances, mattes, strict=True):
        entry = {k: v for k, v in asdict(instance).items() if v not in (None, [])}
        entry["score"] = round(matte.score, 4)
        if matte.warning:
            entry["warning"] = matte.warning
        described.append(entry)
    return described


def _process(run: _Run, items: list[ImageItem], writer: ThreadPoolExecutor) -> list[Future]:
    """Feed batches to the engine and hand the results to the writer."""
    config = run.config
    writes: list[Future] = []
    batch: list[tuple[ImageItem, Job, ImageRecord]] = []

    def flush() -> None:
        if not batch:
            return
        run.await_pymatting()
        results = run.engine.run([job for _, job, _ in batch])
        for (item, job, record), result in zip(batch, results, strict=True):
            record.timings.update(job.timings)
            record.warnings += job.warnings
            if isinstance(result, Exception):
                run.finish(run.fail(record, result))
                continue
            record.prompts = _describe_instances(job.instances, result)
            record.warnings += [f"{m.warning}" for m in result if m.warning]
            writes.append(writer.submit(_write_safely, run, item, job, result, record))
        batch.clear()

    with ThreadPoolExecutor(config.workers, thread_name_prefix="mam-load") as loaders:
        depth = config.workers + 2 * config.batch_size
        for item, (job, record) in prefetch(loaders, run.load, items, depth):
            if job is not None:
                try:
                    run.complete_prompts(job, record)
                except Exception as exc:  # a fault in one image fails that image only
                    job = None
                    run.fail(record, exc)
            if job is None:
                run.finish(record)
            elif not job.instances and record.prompt_source == "auto-none":
                record.status, record.error = Status.SKIPPED, "no prompt (--auto none)"
                run.finish(record)
            elif not job.instances:
                problem = f"no instance found ({record.prompt_source})"
                run.finish(run.fail(record, InputError(item.path, problem)))
            else:
                batch.append((item, job, record))
                if len(batch) >= config.batch_size:
                    flush()
            if run.fatal or (
                config.fail_fast and any(r.status == Status.FAILED for r in run.records)
            ):
                break
        flush()
    return writes


# Errors of the output folder itself: the run stops (the next image would fail the same way).
_RUN_FAULTS = {errno.ENOSPC, errno.EROFS, errno.EDQUOT, errno.EACCES, errno.EFBIG}


def _write_safely(
    run: _Run, item: ImageItem, job: Job, mattes: list[InstanceMatte], record: ImageRecord
) -> ImageRecord:
    """Write one image's outputs; a fault fails the image, a full or read-only output
    folder stops the run (`run.fatal`)."""
    try:
        run.write(item, job, mattes, record)
    except OSError as exc:
        if exc.errno in _RUN_FAULTS:
            run.fatal = OutputError(f"{run.config.out_dir}: cannot write outputs: {exc.strerror}")
        run.fail(record, InputError(item.path, f"could not write outputs: {exc.strerror or exc}"))
    except Exception as exc:  # a fault in one image fails that image only
        run.fail(record, exc)
    run.progress.image_done(record)
    return record


def _run_rank(config: MatteConfig, progress: Progress) -> RunSummary:
    """This rank's share of the run: under torchrun (or `--devices`) each rank takes a
    contiguous shard and rank 0 merges the manifests. Rank 0 holds the output folder's
    lock for the whole run (the other ranks start work after it has it)."""
    start = time.perf_counter()
    config.validate()
    config.prompts.load(config.inputs)
    reuse_freed_memory()
    rank = distributed.current_rank()
    lock = OutputLock(config.out_dir / ".mam" / "lock")
    progress = with_test_pause(progress)
    if rank.is_main:
        lock.acquire()
    try:
        if rank.is_main:
            OutputLayout(config.out_dir).prepare()
        gpu = config.engine.device in ("auto", "cuda") and torch.cuda.is_available()
        if rank.world > 1 and gpu:
            config.engine.device = f"cuda:{rank.local_rank}"
        engine, note = build_engine(config.engine)
        device = engine.model.device if isinstance(engine, MamEngine) else torch.device("cpu")
        distributed.init_group(rank, device)
        distributed.barrier(rank)
        try:
            return _run_images(config, rank, engine, note, progress, start)
        finally:
            release(progress)
            distributed.close_group()
    finally:
        lock.release()


def _run_images(
    config: MatteConfig, rank: distributed.Rank, engine: Engine, note: str,
    progress: Progress, start: float,
) -> RunSummary:  # fmt: skip
    """The body of `_run_rank` once the lock is held and the engine built."""
    items = find_images(config.inputs, config.glob, exclude=[config.out_dir])
    unmatched = config.prompts.unmatched(items)
    names, refused = output_names(items)
    refused_items = {item for item, _ in refused}
    items = [item for item in items if item not in refused_items]
    run = _Run(config, engine, note, progress)
    run.layout.names.update(names)
    mine = distributed.shard(items, rank)
    refused_here = distributed.shard(refused, rank)
    progress.started(len(mine) + len(refused_here), engine.name, note)
    if isinstance(engine, MamEngine) and emulated_precision(
        engine.model.precision, engine.model.device
    ):
        progress.notice(
            f"precision {engine.model.precision} has no native support on this CPU: every op "
            "emulates it, several times slower than fp32 (--precision auto picks fp32 here)"
        )
    todo = []
    for item in mine:
        done = run.resume.previous(item)
        if done is None:
            todo.append(item)
        else:
            done.status = Status.CACHED
            run.finish(done)
    for item, problem in refused_here:
        run.finish(run.fail(run.new_record(item), InputError(item.path, problem)))
    with ThreadPoolExecutor(1, thread_name_prefix="mam-write") as writer:
        try:
            writes = _process(run, todo, writer)
            run.records += [future.result() for future in writes]
        except BaseException:
            writer.shutdown(wait=False, cancel_futures=True)
            release(progress)  # a paused writer finishes its image; nothing more starts
            writer.shutdown(wait=True)
            raise
    run.records.sort(key=lambda record: record.rel)
    manifest = distributed.rank_manifest(config.out_dir, rank)
    try:
        distributed.write_manifest(manifest, [r.to_json() for r in run.records])
    except OSError as exc:
        raise OutputError(f"{manifest}: cannot write the manifest: {exc.strerror}") from None
    if run.fatal:
        raise run.fatal
    distributed.barrier(rank)
    if rank.world > 1 and rank.is_main:
        manifest = distributed.merge_manifests(config.out_dir, rank.world)
        records = _read_manifest(manifest)
        elapsed = time.perf_counter() - start
        return RunSummary(records, note, elapsed, manifest, True, unmatched, engine.name)
    elapsed = time.perf_counter() - start
    return RunSummary(run.records, note, elapsed, manifest, rank.is_main, unmatched, engine.name)


def _read_manifest(manifest: Path) -> list[ImageRecord]:
    lines = manifest.read_text(encoding="utf-8").splitlines()
    return [r for r in map(ImageRecord.from_json, lines) if r is not None]


def _device_worker(config: MatteConfig, devices: list[str]) -> None:
    config.engine.device = devices[distributed.current_rank().rank]
    _run_rank(config, Progress())


def run_matte(config: MatteConfig, progress: Progress | None = None) -> RunSummary:
    """Matte every image of `config.inputs` into `config.out_dir`: what `mam matte` does.

    One process, or one worker process per device (`devices`/`gpus`), or this rank's
    share under torchrun. `progress` hears of every image as it finishes (the CLI's live
    display). Returns the summary; raises MamError for a usage or output-folder problem.
    """
    config.validate()
    progress = progress or Progress()
    devices = config.device_list()
    if len(devices) == 1:
        config.engine.device = devices[0]
        return _run_rank(config, progress)
    start = time.perf_counter()
    distributed.spawn(len(devices), _device_worker, (config, devices))
    manifest = config.out_dir / "manifest.jsonl"
    records = _read_manifest(manifest)
    note = records[0].engine.get("choice", "") if records else "no images"
    items = find_images(config.inputs, config.glob, exclude=[config.out_dir])
    unmatched = config.prompts.load(config.inputs).unmatched(items)
    return RunSummary(records, note, time.perf_counter() - start, manifest, True, unmatched)
