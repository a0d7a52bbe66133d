"""`RunSummary`: what a `mam matte` run did, for the CLI's table and `--json`."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mamcli.matte.record import ImageRecord, Status


@dataclass
class RunSummary:
    """What happened: per-image manifest lines, counts, the engine choice, the exit code."""

    records: list[ImageRecord]
    engine_note: str
    elapsed: float
    manifest: Path | None
    is_main: bool = True
    unmatched_prompts: list[str] = field(default_factory=list)
    engine: str | None = None  # "mam" or "classic"; read from the records when not given

    def __post_init__(self) -> None:
        if self.engine is None:
            names = [r.engine.get("engine") for r in self.records if r.engine.get("engine")]
            self.engine = names[0] if names else None

    def count(self, status: str | Status) -> int:
        return sum(1 for record in self.records if record.status == Status(status))

    @property
    def failed(self) -> list[ImageRecord]:
        return [record for record in self.records if record.status == Status.FAILED]

    @property
    def exit_code(self) -> int:
        return 1 if self.failed else 0

    def prompt_sources(self) -> dict[str, int]:
        """Images per prompt source kind (the part of `prompt_source` before ':'), most first."""
        kinds = Counter(r.prompt_source.split(":")[0] for r in self.records if r.prompt_source)
        return dict(kinds.most_common())

    def as_dict(self) -> dict[str, Any]:
        return {
            "engine": self.engine,
            "engine_note": self.engine_note,
            "images": len(self.records),
            "ok": self.count("ok"),
            "skipped": self.count("skipped"),
            "cached": self.count("cached"),
            "failed": [{"input": r.input, "error": r.error} for r in self.failed],
            "seconds": round(self.elapsed, 3),
            "manifest": str(self.manifest) if self.manifest else None,
            "unmatched_prompts": self.unmatched_prompts,
            "prompt_sources": self.prompt_sources(),
        }


class Progress:
    """Hears of a run as it goes; the CLI's live display subclasses it. Does nothing."""

    def started(self, total: int, engine: str, engine_note: str) -> None:
        """The run knows its images (this rank's share) and its engine: its name ("mam",
        "classic") and why it was chosen."""

    def image_done(self, record: ImageRecord) -> None:
        """One image finished: ok, cached, skipped or failed (called from run threads)."""

    def notice(self, message: str) -> None:
        """Something the user is waiting for that is not an image (a first-run compile)."""
