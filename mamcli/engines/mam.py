"""Engines behind `mam matte`: the learned MAM engine and the weight-free classic engine.

An engine turns a batch of (image, instances) into mattes. Work that needs no model
(resizing for SAM) is done in `prepare`, which the loader threads call, so the model only
waits for the device.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from mamcli.engines.classic import ClassicConfig, ClassicEngine
from mamcli.engines.closed_form import refine_mask_cf
from mamcli.errors import MamError
from mamcli.hub.weights import find_weights
from mamcli.model.api import InferenceOptions, MattingAnything, load_m2m
from mamcli.model.refine import RefineConfig
from mamcli.model.sam import load_sam
from mamcli.results import Instance, InstanceMatte

ENGINES = ("auto", "mam", "classic")
REFINERS = ("m2m", "none", "cf")


@dataclass
class EngineSettings:
    """What selects and configures the engine (CLI flags map one to one)."""

    engine: str = "auto"
    model: str = "vit_b"
    sam_checkpoint: Path | None = None
    m2m_checkpoint: Path | None = None
    refiner: str = "m2m"
    refine: RefineConfig = field(default_factory=RefineConfig)
    device: str = "auto"
    precision: str = "auto"
    compile: bool = False  # torch.compile the MAM networks (speed only: not in the fingerprint)
    classic: ClassicConfig = field(default_factory=ClassicConfig)


@dataclass
class Job:
    """One image on its way through the engine."""

    rgb: np.ndarray
    instances: list[Instance]
    prepared: Any = None
    timings: dict[str, float] = field(default_factory=dict)


class Engine(Protocol):
    name: str

    def describe(self) -> dict[str, Any]: ...

    def prepare(self, rgb: np.ndarray) -> Any: ...

    def run(self, jobs: list[Job]) -> list[list[InstanceMatte] | Exception]: ...


class MamEngine:
    """SAM + M2M (or SAM alone, or SAM + closed-form) with the encoder batched over images."""

    name = "mam"

    def __init__(self, model: MattingAnything, settings: EngineSettings) -> None:
        self.model = model
        self.settings = settings

    def describe(self) -> dict[str, Any]:
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

    def prepare(self, rgb: np.ndarray) -> Any:
        return self.model.sam.prepare(rgb)

    def run(self, jobs: list[Job]) -> list[list[InstanceMatte] | Exception]:
        start = time.perf_counter()
        encoded = self.model.encode([job.prepared for job in jobs])
        per_image = (time.perf_counter() - start) / len(jobs)
        results: list[list[InstanceMatte] | Exception] = []
        for job, image in zip(jobs, encoded, strict=True):
            job.timings["encode"] = per_image
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
            except MamError as exc:
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

    def prepare(self, rgb: np.ndarray) -> Any:
        return None

    def run(self, jobs: list[Job]) -> list[list[InstanceMatte] | Exception]:
        results: list[list[InstanceMatte] | Exception] = []
        for job in jobs:
            start = time.perf_counter()
            try:
                results.append(self.engine.predict(job.rgb, job.instances))
            except MamError as exc:
                results.append(exc)
            job.timings["matte"] = time.perf_counter() - start
        return results


ENABLE_MAM_HINT = (
    "to use MAM: mam weights download sam_{model} && mam weights download mam_{model} "
    "(or pass --sam-checkpoint and --m2m-checkpoint)"
)


def build_engine(settings: EngineSettings) -> tuple[Engine, str]:
    """The engine to use and a one-line note on the choice (for the summary and manifest)."""
    if settings.engine not in ENGINES:
        raise MamError(f"unknown engine {settings.engine!r}; choose one of {', '.join(ENGINES)}")
    if settings.refiner not in REFINERS:
        raise MamError(f"unknown refiner {settings.refiner!r}; choose one of {', '.join(REFINERS)}")
    if settings.engine == "classic":
        return ClassicAdapter(settings), "classic engine (asked for)"
    sam, m2m = find_weights(
        settings.model,
        sam_checkpoint=settings.sam_checkpoint,
        m2m_checkpoint=settings.m2m_checkpoint,
    )
    needs_m2m = settings.refiner == "m2m"
    missing = [name for name, path in (("SAM", sam), ("M2M", m2m if needs_m2m else 0)) if not path]
    if missing:
        hint = ENABLE_MAM_HINT.format(model=settings.model)
        if settings.engine == "mam":
            raise MamError(f"--engine mam needs {' and '.join(missing)} weights; {hint}")
        return ClassicAdapter(
            settings
        ), f"classic engine: no {' or '.join(missing)} weights; {hint}"
    settings.sam_checkpoint, settings.m2m_checkpoint = sam, m2m
    model = MattingAnything(
        load_sam(sam, settings.model),
        load_m2m(m2m) if needs_m2m else None,
        device=settings.device,
        precision=settings.precision,
        refine_config=settings.refine,
        options=InferenceOptions(compile=settings.compile),
    )
    how = "asked for" if settings.engine == "mam" else "weights found"
    return MamEngine(model, settings), f"MAM engine ({how})"
