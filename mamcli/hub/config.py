"""Options of `mam weights download`, declared once: the CLI flags are generated from them
and `download(DownloadConfig(...))` reads them."""

from __future__ import annotations

from dataclasses import dataclass

from mamcli.hub.weights import WeightSpec
from mamcli.options import Resume, option


@dataclass(frozen=True)
class DownloadConfig:
    """Which checkpoint to download, from where, and how loudly."""

    checkpoint: str | WeightSpec = option(
        cli=False, metavar="NAME", help="Checkpoint name (see `mam weights list`)."
    )
    url: str | None = option(
        None,
        resume=Resume.RUN,
        metavar="URL",
        help="Download from here instead (http(s)://, file:// or hf://OWNER/REPO/PATH).",
    )
    force: bool = option(False, resume=Resume.RUN, help="Download again even if cached.")
    quiet: bool = option(
        False,
        short="-q",
        resume=Resume.RUN,
        help="Print nothing but errors (no progress bar, no path).",
    )
