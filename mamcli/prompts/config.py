"""Options of the prompt room, importable without heavy imports: the text detector's
settings and `mam prompts from-alpha`'s."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

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


@dataclass
class FromAlphaConfig:
    """`prompts_from_alpha(FromAlphaConfig(gt=...))` derives what `mam prompts from-alpha GT`
    does; `write_prompts(result, config.output)` writes the file."""

    gt: Path = option(cli=False, metavar="GT", help="Ground-truth alpha folder.")
    output: Path = option(
        Path("prompts.json"),
        short="-o",
        required=True,
        resume=Resume.RUN,
        panel="Outputs",
        metavar="FILE",
        help="Prompt file to write (JSON).",
    )
    point: bool = option(
        False, panel="Prompts", help="One positive point at the box centre instead of the box."
    )
    instances: bool = option(
        False, panel="Inputs", help="One folder per image, one alpha per instance (id = stem)."
    )
    images: Path | None = option(
        None,
        panel="Inputs",
        metavar="DIR",
        help="Image folder: key prompts by the images' own paths (a.jpg).",
    )
    workers: int | None = option(
        None, check=at_least(1), resume=Resume.SPEED, panel="Performance", help="Worker processes."
    )
    progress: bool = option(False, cli=False, resume=Resume.RUN, help="Show a progress bar.")
