"""Engines behind `mam matte`: the learned MAM engine and the weight-free classic engine.

An engine turns a batch of (image, instances) into mattes. Work that needs no model
(resizing for SAM) is done in `prepare`, which the loader threads call, so the model only
waits for the device.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

import numpy as np

from mamcli.engines.classic import ClassicEngine
from mamcli.engines.closed_form import refine_mask_cf
from mamcli.engines.config import EngineSettings, engine_builder
from mamcli.errors import MamError
from mamcli.hub.identity import content_hash
from mamcli.hub.weights import find_weights
from mamcli.model.api import MattingAnything, load_m2m
from mamcli.model.config import NUMERICS_VERSION
from mamcli.model.embedding_cache import EmbeddingCache
from mamcli.model.sam import load_sam
from mamcli.results import Instance, InstanceMatte


@dataclass
class Job:
    """One image on its way through the engine."""

    rgb: np.ndarray
    instances: list[Instance]
    prepared: Any = None
    timings: dict[str, float] = field(default_factory=dict)
    source: str = "image"  # the input file, for messages
    warnings: list[str] = field(default_factory=list)  # shown and kept in its record


class Engine(Protocol):
    name: str

    def describe(self) -> dict[str, Any]: ...

    def identity(self) -> dict[str, Any]: ...

    def prepare(self, rgb: np.ndarray) -> Any: ...

    def run(self, jobs: list[Job]) -> list[list[InstanceMatte] | Exception]: ...


class MamEngine:
    """SAM + M2M (or SAM alone, or SAM + closed-form) with the encoder batched over images."""

    name = "mam"

    def __init__(self, model: MattingAnything, settings: EngineSettings) -> None:
        self.model = model
        self.settings = settings
        folder = settings.cache_dir
        self.cache = EmbeddingCache(folder) if folder and settings.cache_embeddings else None
        self._sam_identity: str | None = None

    def sam_identity(self) -> str:
        """The SAM checkpoint's content hash (embedding cache keys), computed once."""
        if self._sam_identity is None:
            self._sam_identity = content_hash(self.settings.sam_checkpoint)
        return self._sam_identity

    def describe(self) -> dict[str, Any]:
        """What the manifest records about the engine (device included, for the reader)."""
        return {
            "engine": self.name,
            "model": self.settings.model,
            "refiner": self.settings.refiner,
            "refine_mode": self.settings.refine.mode,
            "refine_widths": list(self.settings.refine.widths),
            "device": str(self.model.device),
            "precision": self.model.precision,
            "sam_checkpoint": str(self.settings.sam_checkpoint),
            "m2m_checkpoint": str(self.settings.m2m_checkpoint),
        }

    def identity(self) -> dict[str, Any]:
        """What the options resolved to that changes outputs: the engine actually used, the
        precision `auto` picked, the checkpoints' content, and the version of the networks'
        arithmetic (so outputs of earlier code whose numbers differ are not resumed)."""
        m2m = self.settings.m2m_checkpoint if self.settings.refiner == "m2m" else None
        return {
            "engine": self.name,
            "precision": self.model.precision,
            "numerics": NUMERICS_VERSION,
            "sam": self.sam_identity(),
            "m2m": content_hash(m2m) if m2m else None,
        }

    def prepare(self, rgb: np.ndarray) -> Any:
        return self.model.sam.prepare(rgb)

    def run(self, jobs: list[Job]) -> list[list[InstanceMatte] | Exception]:
        start = time.perf_counter()
        prepared = [job.prepared for job in jobs]
        keys = None
        if self.cache is not None:
            keys = [self.model.embedding_key(image, self.sam_identity()) for image in prepared]
        cache_problem = self.cache and self.cache.problem
        encoded = self.model.encode(prepared, cache=self.cache, keys=keys)
        if self.cache and self.cache.problem != cache_problem:  # said once, when it happens
            jobs[0].warnings.append(self.cache.problem)
        per_image = (time.perf_counter() - start) / len(jobs)
        results: list[list[InstanceMatte] | Exception] = []
        for job, image in zip(jobs, encoded, strict=True):
            # "encode": the encoder ran for this image; "embedding_cache": it was read back
            job.timings["embedding_cache" if image.from_cache else "encode"] = per_image
            start = time.perf_counter()
            try:
                mattes = self.model.matte(
                    image, job.instances, use_m2m=self.settings.refiner == "m2m"
                )
                if self.settings.refiner == "cf":
                    for matte in mattes:
                        if matte.mask.any():
                            matte.alpha = refine_mask_cf(job.rgb, matte.mask)
                results.append(mattes)
            except Exception as exc:  # a fault in one image fails that image only
                results.append(exc)
            job.timings["matte"] = time.perf_counter() - start
        return results


class ClassicAdapter:
    """The classic engine one image at a time (it has no batched stage)."""

    name = "classic"

    def __init__(self, settings: EngineSettings) -> None:
        self.engine = ClassicEngine(settings.classic)
        self.settings = settings

    def describe(self) -> dict[str, Any]:
        return {"engine": self.name, "working_size": self.settings.classic.working_size}

    def identity(self) -> dict[str, Any]:
        return {"engine": self.name}

    def prepare(self, rgb: np.ndarray) -> Any:
        return None

    def run(self, jobs: list[Job]) -> list[list[InstanceMatte] | Exception]:
        results: list[list[InstanceMatte] | Exception] = []
        for job in jobs:
            start = time.perf_counter()
            try:
                results.append(self.engine.predict(job.rgb, job.instances, job.source))
            except Exception as exc:  # a fault in one image fails that image only
                results.append(exc)
            job.timings["matte"] = time.perf_counter() - start
        return results


ENABLE_MAM_HINT = (
    "to use MAM: mam weights download sam_{model} && mam weights download mam_{model} "
    "(or pass --sam-checkpoint and --m2m-checkpoint)"
)


def build_classic(settings: EngineSettings, note: str = "asked for") -> tuple[Engine, str]:
    """The weight-free classic engine."""
    return ClassicAdapter(settings), note


def build_mam(settings: EngineSettings, fallback: bool = False) -> tuple[Engine, str]:
    """The MAM engine; with `fallback` (engine auto) the classic one when weights are missing."""
    sam, m2m = find_weights(
        settings.model,
        sam_checkpoint=settings.sam_checkpoint,
        m2m_checkpoint=settings.m2m_checkpoint,
    )
    needs_m2m = settings.refiner == "m2m"
    missing = [name for name, path in (("SAM", sam), ("M2M", m2m if needs_m2m else 0)) if not path]
    if missing:
        hint = ENABLE_MAM_HINT.format(model=settings.model)
        if not fallback:
            raise MamError(f"--engine mam needs {' and '.join(missing)} weights; {hint}")
        return build_classic(settings, f"no {' or '.join(missing)} weights; {hint}")
    settings.sam_checkpoint, settings.m2m_checkpoint = sam, m2m
    model = MattingAnything(
        load_sam(sam, settings.model),
        load_m2m(m2m) if needs_m2m else None,
        device=settings.device,
        precision=settings.precision,
        refine_config=settings.refine,
        options=replace(settings.inference, compile=settings.compile or settings.inference.compile),
    )
    return MamEngine(model, settings), "weights found" if fallback else "asked for"


def build_engine(settings: EngineSettings) -> tuple[Engine, str]:
    """The engine to use and a short note on why (for the summary and the manifest)."""
    if settings.engine == "auto":
        return engine_builder("mam")(settings, fallback=True)
    return engine_builder(settings.engine)(settings)
