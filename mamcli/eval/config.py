"""Everything `mam eval` takes, one declaration per option: the CLI flags are generated
from these fields (mamcli/cli/options.py), as for `mam matte` and `mam train`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mamcli.errors import UsageError
from mamcli.imaging.limits import DEFAULT_MAX_PIXELS
from mamcli.imaging.trimap import DEFAULT_BAND
from mamcli.options import Resume, at_least, option, validate

GENERATE = "generate"  # --trimap generate: a band around the GT instead of a folder
INPUTS = "Inputs"
REGION = "Region and matching"
LIMITS = "Limits and speed"


@dataclass
class EvalConfig:
    """`evaluate(EvalConfig(gt=..., pred=...))` does what `mam eval --gt .. --pred ..` does."""

    gt: Path = option(required=True, panel=INPUTS, metavar="DIR", help="Ground-truth alpha folder.")
    pred: Path = option(
        required=True,
        panel=INPUTS,
        metavar="DIR",
        help="Predicted alpha folder, or a `mam matte` output root (uses alpha/ and manifest).",
    )
    images: Path | None = option(
        None,
        panel=INPUTS,
        metavar="DIR",
        help="Folder of the original photos (HTML report; default: the manifest's inputs).",
    )
    trimap: str | None = option(
        None,
        panel=REGION,
        metavar=f"DIR|{GENERATE}",
        help="Trimap folder (unknown = 128) for the trimap-region metrics, or "
        f"'{GENERATE}' (a band around the GT).",
    )
    trimap_band: int = option(
        DEFAULT_BAND,
        check=at_least(1),
        panel=REGION,
        help=f"With --trimap {GENERATE}: band width in pixels.",
    )
    instances: bool = option(
        False, panel=REGION, help="One folder per image, one alpha per instance; report IMQ."
    )
    skip_missing: bool = option(
        False,
        panel=REGION,
        help="--instances: leave images without a prediction folder out of IMQ.",
    )
    resize: bool = option(
        False, panel=REGION, help="Resize predictions of another size instead of failing them."
    )
    max_pixels: int = option(
        DEFAULT_MAX_PIXELS,
        check=at_least(1),
        panel=LIMITS,
        help="Refuse files whose header announces more pixels.",
    )
    workers: int | None = option(
        None,
        check=at_least(1),
        resume=Resume.SPEED,
        panel=LIMITS,
        help="Worker processes (default: CPU cores, at most 8).",
    )
    thumbnails: bool = option(
        False,
        cli=False,
        resume=Resume.RUN,
        help="Collect the pictures the HTML report shows (photos from `images`, else from "
        "the manifest of a `mam matte` output root).",
    )
    progress: bool = option(False, cli=False, resume=Resume.RUN, help="Show a progress bar.")

    def validate(self) -> None:
        """Check every option (one UsageError line); the folders are checked by `evaluate`."""
        validate(self)
        if self.instances and self.trimap is not None:
            raise UsageError("--trimap is not used with --instances (IMQ has no trimap region)")
