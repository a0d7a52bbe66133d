"""Names and settings of the model room that options are checked against, importable
without torch: the SAM backbones, the precisions, and the refinement settings.

Refinement facts (docs/model.md, "Iterative refinement"): widths (w8, w4, w1) default to
(10, 20, 10) and the kernels used are ellipse(w // 2); "postprocess" starts from the os8
alpha, "maskguide" from SAM's mask.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mamcli.options import Resume, at_least, int_list, option, validate

BACKBONES: tuple[str, ...] = ("vit_b", "vit_l", "vit_h", "vit_t")
# Float precisions train and infer; int8 (dynamically quantized linears) is inference-only.
FLOAT_PRECISIONS: tuple[str, ...] = ("fp32", "bf16", "fp16")
PRECISIONS: tuple[str, ...] = (*FLOAT_PRECISIONS, "int8")
PRECISION_CHOICES: tuple[str, ...] = ("auto", *PRECISIONS)
TRAIN_PRECISION_CHOICES: tuple[str, ...] = ("auto", *FLOAT_PRECISIONS)
REFINE_MODES: tuple[str, ...] = ("postprocess", "maskguide")
# Bumped when a change alters the numbers the encoder or M2M compute, not only their speed:
# cached embeddings and resumed outputs of earlier code are then computed again.
# 2 (2026-12-02): bf16 attention by score blocks without AMX, the window bias inside q.k.
NUMERICS_VERSION = 2
# The encoder's attention (mamcli/model/attention.py): "fold" (rel-pos bias folded into one
# fused SDPA call), "scores" (segment-anything's math in cache-sized chunks), "auto" (scores
# on the CPU except bf16/fp16 with AMX, fold otherwise) or "reference" (segment-anything's
# own module).
ATTENTION_KERNELS: tuple[str, ...] = ("auto", "fold", "scores", "reference")


def _widths_ok(widths: tuple[int, ...]) -> str | None:
    if len(widths) != 3 or any(w < 2 for w in widths):
        return f"takes three widths >= 2 (w8,w4,w1), got {','.join(map(str, widths))}"
    return None


@dataclass(frozen=True)
class RefineConfig:
    """Refinement settings: the base mode, the widths (w8, w4, w1) and the two-sided variant."""

    mode: str = option(
        "postprocess",
        flag="--refine",
        choices=REFINE_MODES,
        panel="Engine",
        help="Refinement base: postprocess (os8 alpha; PPM-100, AM2K, PM-10K, RWP636) or "
        "maskguide (SAM's mask; HIM2K, RefMatte-RW100).",
    )
    widths: tuple[int, int, int] = option(
        (10, 20, 10),
        parse=int_list(3),
        check=_widths_ok,
        panel="Engine",
        metavar="W8,W4,W1",
        help="Refinement widths in pixels.",
    )
    two_sided: bool = option(
        False,
        resume=Resume.HASHED,
        cli=False,
        help="Two-sided unknown bands (a variant; not the reference's default).",
    )

    def __post_init__(self) -> None:
        validate(self)


def _inference_option(default: Any, **declaration: Any) -> Any:
    """An `InferenceOptions` field: library-only, and speed only (never in the resume
    fingerprint: every setting gives the same alphas up to float rounding)."""
    return option(default, resume=Resume.SPEED, cli=False, **declaration)


@dataclass(frozen=True)
class InferenceOptions:
    """How the networks run (library-only settings). Every setting gives the same alphas up
    to float rounding, so none is part of the resume fingerprint."""

    attention: str = _inference_option(
        "auto",
        choices=ATTENTION_KERNELS,
        help="The encoder's attention: auto (scores on the CPU except bf16/fp16 with AMX, "
        "fold otherwise), fold, scores or reference (segment-anything's own module).",
    )
    fold_m2m: bool = _inference_option(
        True,
        help="Fold M2M's spectral and batch norms into its convolutions.",
    )
    fuse_m2m: bool = _inference_option(
        True,
        help="(With fold_m2m) run each of M2M's convolutions and the LeakyReLU after it as "
        "one oneDNN call on the CPU, residual sums in place.",
    )
    channels_last: bool = _inference_option(True, help="Run M2M's convolutions in NHWC layout.")
    crop_m2m: bool = _inference_option(
        True,
        help="Run M2M only on the crop of the image its alphas can reach after refinement "
        "(SAM's mask's box, grown by the refinement widths and M2M's receptive field; "
        "mamcli/model/window.py), and not at all for empty masks.",
    )
    m2m_batch: int | None = _inference_option(
        None,
        check=at_least(1),
        help="Prompts per M2M call; None picks 1 on the CPU (measured faster: the "
        "full-resolution activations of one prompt stay in cache) and 8 elsewhere.",
    )
    m2m_band_rows: int | None = _inference_option(
        None,
        check=at_least(0),
        help="M2M's full-scale stage in bands of this many output rows (same numbers, maps "
        "in cache); None picks 256 on the CPU (measured faster) and whole maps elsewhere, "
        "0 whole maps everywhere.",
    )
    compile: bool = _inference_option(
        False,
        help="torch.compile the encoder and M2M (slow first call; see docs/performance.md).",
    )

    def __post_init__(self) -> None:
        validate(self)

    def m2m_batch_for(self, device: Any) -> int:
        """Prompts per M2M call on `device` (a torch.device)."""
        if self.m2m_batch is not None:
            return self.m2m_batch
        return 1 if device.type == "cpu" else 8

    def m2m_band_rows_for(self, device: Any) -> int | None:
        """Output rows per band of M2M's full-scale stage on `device` (None: whole maps)."""
        rows = self.m2m_band_rows
        if rows is None:
            rows = 256 if device.type == "cpu" else 0
        return rows or None


REFERENCE_OPTIONS = InferenceOptions(attention="reference", fold_m2m=False, channels_last=False)
