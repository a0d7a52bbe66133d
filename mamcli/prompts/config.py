"""Options of the prompt room that need no heavy imports: the text detector's settings."""

from __future__ import annotations

from dataclasses import dataclass

from mamcli.options import Resume, at_least, between, option, validate

AUTO_MODES: tuple[str, ...] = ("subject", "all", "none")


@dataclass(frozen=True)
class TextDetectorConfig:
    """How text detections become prompts (Grounding DINO, `--text`)."""

    box_threshold: float = option(
        0.35, check=between(0, 1), panel="Prompts", help="Text: keep boxes scored above this."
    )
    text_threshold: float = option(
        0.25, check=between(0, 1), panel="Prompts", help="Text: tokens that name a box."
    )
    nms_iou: float = option(
        0.8, check=between(0, 1), panel="Prompts", help="Text: drop boxes overlapping a better one."
    )
    max_instances: int = option(
        1,
        check=at_least(1),
        cli=False,
        resume=Resume.HASHED,
        help="Boxes kept per text query (1 = the best, as the paper's benchmark).",
    )

    def __post_init__(self) -> None:
        validate(self)
