"""The engine registry and the engine's options, importable without torch.

An engine turns an image and its prompts into mattes (protocol in engines/mam.py).
`ENGINES` maps each name to the function that builds it, imported only when used.
"""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mamcli.model.config import BACKBONES, PRECISION_CHOICES, InferenceOptions, RefineConfig
from mamcli.options import Resume, group, option

ENGINES: dict[str, str] = {
    "mam": "mamcli.engines.mam:build_mam",
    "classic": "mamcli.engines.mam:build_classic",
}
ENGINE_CHOICES: tuple[str, ...] = ("auto", *ENGINES)
# What refines SAM's mask inside the MAM engine: M2M, nothing, or closed-form matting.
REFINERS: dict[str, str] = {
    "m2m": "the Mask-to-Matte network",
    "none": "SAM's mask as the alpha",
    "cf": "SAM's mask + closed-form matting",
}
_DEVICE = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")


@dataclass
class ClassicConfig:
    """Knobs of the classic engine.

    working_size: long side (px) of the image GrabCut runs on; matte_size: long side (px)
    of the image the trimap and the closed-form solves run on (never above the image's
    own size; at most working_size means GrabCut's image); grabcut_iters: GrabCut
    iterations; band: half-width of the trimap's unknown band as a fraction of the image
    diagonal (at least min_band_px pixels); seed_radius: radius of point seeds as a
    fraction of the diagonal (at least 2 px); point_margin: growth of the positive points'
    box, as a fraction of the long side, for points-only prompts; trimap: "adaptive"
    (unknown region follows the colour models' doubt, see classic_trimap.py) or "fixed"
    (a `band` on every edge, the engine before issue #14); solver: pymatting solver, one
    of closed_form.SOLVERS; iterations: solves, each after the first on a trimap
    re-estimated from the alpha; band_max: widest adaptive unknown region, as a fraction
    of the diagonal; narrow_px: unknown half-width on every edge (adaptive); confidence:
    colour-model posterior a known pixel needs (adaptive); mix_window: radius (px) of the
    neighbourhood tested for mixed colours (adaptive); regrow_px: how far each
    re-estimated trimap's unknown region reaches beyond the previous alpha's soft pixels;
    blend_tolerance: colour distance (levels) within which a pixel counts as a blend of a
    foreground and a background colour, and is unknown near the edge (0: off);
    glass_density: share of blend pixels within glass_window (fraction of the diagonal)
    that marks a part of the mask as see-through, which is then solved again with a soft
    prior alpha (weight glass_weight) from the blends (1 or more: off; adaptive only).
    """

    working_size: int = 512
    matte_size: int = 720
    grabcut_iters: int = 5
    band: float = 0.01
    min_band_px: int = 2
    seed_radius: float = 0.005
    point_margin: float = 0.15
    trimap: str = "adaptive"
    solver: str = "cf"
    iterations: int = 2
    band_max: float = 0.07
    narrow_px: int = 2
    confidence: float = 0.9
    mix_window: int = 3
    regrow_px: int = 10
    blend_tolerance: float = 12.0
    glass_density: float = 0.8
    glass_window: float = 0.03
    glass_weight: float = 0.02


def _device_ok(value: str) -> str | None:
    return None if _DEVICE.match(value) else "takes auto, cpu, cuda, cuda:N or mps"


@dataclass
class EngineSettings:
    """What selects and configures the engine."""

    engine: str = option(
        "auto",
        choices=ENGINE_CHOICES,
        resume=Resume.IDENTITY,
        panel="Engine",
        help="auto: MAM when SAM and M2M weights are found, else the classic engine.",
    )
    model: str = option("vit_b", choices=BACKBONES, panel="Engine", help="SAM backbone.")
    sam_checkpoint: Path | None = option(
        None,
        resume=Resume.IDENTITY,
        panel="Engine",
        metavar="FILE",
        help="SAM checkpoint (wins over the cache).",
    )
    m2m_checkpoint: Path | None = option(
        None,
        resume=Resume.IDENTITY,
        panel="Engine",
        metavar="FILE",
        help="M2M checkpoint (wins over the cache).",
    )
    refiner: str = option(
        "m2m",
        choices=tuple(REFINERS),
        panel="Engine",
        help="MAM refiner: m2m, none (SAM's mask) or cf (SAM's mask + closed-form).",
    )
    refine: RefineConfig = group(RefineConfig, help="Refinement settings.")
    precision: str = option(
        "auto",
        choices=PRECISION_CHOICES,
        resume=Resume.IDENTITY,
        panel="Engine",
        help=(
            "auto: bf16 where the device runs it natively fast (GPUs, CPUs with AMX, AMD"
            " Zen 4), else fp32."
        ),
    )
    device: str = option(
        "auto",
        resume=Resume.SPEED,
        check=_device_ok,
        panel="Performance",
        help="auto, cpu, cuda, cuda:N or mps.",
    )
    compile: bool = option(
        False,
        resume=Resume.SPEED,
        panel="Performance",
        help="torch.compile SAM's encoder and M2M: minutes to compile first; meant for long "
        "GPU runs.",
    )
    cache_embeddings: bool = option(
        True,
        resume=Resume.SPEED,
        panel="Performance",
        help="Keep SAM image embeddings (in --cache) so a rerun with other prompts skips the "
        "encoder.",
    )
    cache_dir: Path | None = option(
        None,
        resume=Resume.SPEED,
        cli=False,
        help="The embedding folder in use; MatteConfig fills it from --cache (default "
        "OUT/.mam/embeddings). None: no cache.",
    )
    inference: InferenceOptions = option(
        factory=InferenceOptions,
        resume=Resume.SPEED,
        cli=False,
        help="How the networks run (attention kernel, M2M folding; same alphas up to rounding).",
    )
    classic: ClassicConfig = group(
        ClassicConfig, help="Classic engine settings.", resume=Resume.HASHED
    )


def engine_builder(name: str) -> Any:
    """The builder function registered for engine `name` (imported on first use)."""
    module, function = ENGINES[name].split(":")
    return getattr(importlib.import_module(module), function)
