"""`MatteConfig`: every option of `mam matte`, declared once (default, help, choices,
checks, whether it changes the outputs). The CLI flags, their validation and the resume
fingerprint are all derived from these declarations; see docs/architecture.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mamcli.engines.config import EngineSettings
from mamcli.errors import UsageError
from mamcli.imaging.colours import check_background
from mamcli.imaging.limits import DEFAULT_MAX_PIXELS
from mamcli.options import Resume, at_least, group, hashed_settings, name_list, option, validate
from mamcli.prompts.config import AUTO_MODES, TextDetectorConfig
from mamcli.prompts.sources import PromptSources

OUTPUT_KINDS: tuple[str, ...] = ("alpha", "cutout", "composite", "mask")
# "jpeg" is accepted as another name of "jpg".
COMPOSITE_FORMATS: tuple[str, ...] = ("jpg", "jpeg", "png", "webp")
AUTO_ALL_INSTANCES = 5  # --auto all keeps this many instances unless --max-instances says


@dataclass
class MatteConfig:
    """Everything `mam matte` takes. `run_matte(MatteConfig(inputs=[...], out_dir=...))`
    does what `mam matte INPUTS -o OUT` does."""

    inputs: list[Path] = option(
        factory=list,
        resume=Resume.RUN,
        cli=False,
        metavar="INPUT...",
        help="Image files and folders (recursive); - reads one image from stdin (with -o -).",
    )
    out_dir: Path = option(
        Path("out"),
        flag="--output",
        short="-o",
        resume=Resume.RUN,
        panel="Outputs",
        required=True,
        metavar="DIR",
        help="Output folder.",
    )
    glob: str | None = option(
        None,
        resume=Resume.RUN,
        panel="Inputs",
        metavar="PATTERN",
        help="Only files whose path matches, e.g. '*.jpg' or '2024/**/*.png'.",
    )
    max_pixels: int = option(
        DEFAULT_MAX_PIXELS,
        resume=Resume.RUN,
        check=at_least(1),
        panel="Inputs",
        help="Refuse images with more pixels (decompression-bomb guard).",
    )
    prompts: PromptSources = group(PromptSources, help="Prompt files.")
    auto: str = option(
        "subject",
        choices=AUTO_MODES,
        panel="Prompts",
        help="Images without prompts: subject (one main subject), all (every instance) or "
        "none (skip them).",
    )
    max_instances: int | None = option(
        None,
        check=at_least(1),
        panel="Prompts",
        help=f"At most this many instances: per image with --auto all [{AUTO_ALL_INSTANCES}], "
        "per text query [1].",
    )
    text: str | None = option(
        None,
        panel="Prompts",
        metavar="QUERY",
        help="Find this (e.g. 'the dog') in images without prompts (needs mam[text]).",
    )
    text_config: TextDetectorConfig = group(TextDetectorConfig, help="Text detector settings.")
    detector: Path | None = option(
        None, panel="Prompts", metavar="DIR", help="Grounding DINO folder (wins over the cache)."
    )
    engine: EngineSettings = group(EngineSettings, help="Engine settings.")
    outputs: tuple[str, ...] = option(
        ("alpha", "cutout", "composite"),
        parse=name_list,
        choices=OUTPUT_KINDS,
        panel="Outputs",
        metavar="KINDS",
        help="What to write, comma-separated.",
    )
    alpha_depth: int = option(8, choices=("8", "16"), panel="Outputs", help="Bits per alpha pixel.")
    estimate_foreground: bool = option(
        True,
        flag="--foreground",
        panel="Outputs",
        help="Estimate foreground colours for cut-outs (no old background in the hair).",
    )
    background: str = option(
        "white",
        check=check_background,
        panel="Outputs",
        metavar="COLOUR|IMAGE|DIR",
        help="Composite background: a colour name, #rrggbb or r,g,b, an image, or a folder "
        "of images (each image always gets the same one).",
    )
    composite_format: str = option(
        "jpg", choices=COMPOSITE_FORMATS, panel="Outputs", help="Composite file format."
    )
    crop_to_subject: bool = option(
        False, panel="Outputs", help="Crop cut-outs and composites to the alpha."
    )
    margin: int = option(
        0, check=at_least(0), panel="Outputs", help="Pixels kept around the subject when cropping."
    )
    batch_size: int = option(
        1,
        resume=Resume.SPEED,
        check=at_least(1),
        panel="Performance",
        help="Images per encoder batch.",
    )
    workers: int = option(
        2,
        resume=Resume.SPEED,
        check=at_least(1),
        panel="Performance",
        help="Image loading threads.",
    )
    devices: tuple[str, ...] = option(
        (),
        parse=name_list,
        resume=Resume.SPEED,
        panel="Performance",
        metavar="LIST",
        help="One worker process per device, e.g. cuda:0,cuda:1.",
    )
    gpus: int | None = option(
        None,
        resume=Resume.SPEED,
        check=at_least(1),
        panel="Performance",
        help="One worker process per GPU on the first N GPUs.",
    )
    cache: Path | None = option(
        None,
        resume=Resume.SPEED,
        panel="Performance",
        metavar="DIR",
        help="Folder for SAM image embeddings (default OUT/.mam/embeddings); a rerun with "
        "other prompts skips the encoder.",
    )
    overwrite: bool = option(
        False, resume=Resume.RUN, panel="Run", help="Redo images whose outputs already exist."
    )
    fail_fast: bool = option(
        False, resume=Resume.RUN, panel="Run", help="Stop at the first failed image."
    )

    def __post_init__(self) -> None:
        self.inputs = [Path(p) for p in self.inputs]
        self.out_dir = Path(self.out_dir)
        if self.engine.cache_embeddings:
            self.engine.cache_dir = Path(self.cache or self.out_dir / ".mam" / "embeddings")

    def validate(self) -> None:
        """Check every option and path (one UsageError line); no heavy imports."""
        validate(self)
        if not self.inputs:
            raise UsageError("no input given: name image files or folders")
        for given in self.inputs:
            if not given.exists():
                raise UsageError(f"{given}: no such file or folder")
        out = self.out_dir
        if out.exists() and not out.is_dir():
            raise UsageError(f"{out}: -o must be a folder, and this is a file")
        for given in self.inputs:
            if given.is_dir() and given.resolve() == out.resolve():
                raise UsageError(f"{out}: -o is an input folder; write the outputs elsewhere")

    def device_list(self) -> list[str]:
        """The devices to run one worker on each; [engine.device] for a single process."""
        if self.devices:
            return list(self.devices)
        if self.gpus:
            return [f"cuda:{i}" for i in range(self.gpus)]
        return [self.engine.device]

    @property
    def composite_suffix(self) -> str:
        return "jpg" if self.composite_format == "jpeg" else self.composite_format

    def needs_pymatting(self, engine: str) -> bool:
        """Whether the run calls pymatting: the classic engine and `--refiner cf` solve
        alphas with it, cut-outs and composites estimate foreground colours with it."""
        writes_colour = bool({"cutout", "composite"} & set(self.outputs))
        return (
            engine == "classic"
            or self.engine.refiner == "cf"
            or (self.estimate_foreground and writes_colour)
        )

    def auto_instances(self) -> int:
        return self.max_instances or AUTO_ALL_INSTANCES

    def text_detector(self) -> TextDetectorConfig:
        """The text detector settings, with --max-instances applied (default 1 per query)."""
        from dataclasses import replace

        return replace(self.text_config, max_instances=self.max_instances or 1)

    def settings(self) -> dict[str, Any]:
        """The output-changing options, for the resume fingerprint (see `options.Resume`)."""
        settings = hashed_settings(self)
        settings["composite_format"] = self.composite_suffix
        return settings
