"""`RunSummary`: what a `mam matte` run did, for the CLI's table and `--json`."""

from __future__ import annotations

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

    def count(self, status: str | Status) -> int:
        return sum(1 for record in self.records if record.status == Status(status))

    @property
    def failed(self) -> list[ImageRecord]:
        return [record for record in self.records if record.status == Status.FAILED]

    @property
    def exit_code(self) -> int:
        return 1 if self.failed else 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "engine": self.engine_note,
            "images": len(self.records),
            "ok": self.count("ok"),
            "skipped": self.count("skipped"),
            "cached": self.count("cached"),
            "failed": [{"input": r.input, "error": r.error} for r in self.failed],
            "seconds": round(self.elapsed, 3),
            "manifest": str(self.manifest) if self.manifest else None,
            "unmatched_prompts": self.unmatched_prompts,
        }


class Progress:
    """Hears of a run as it goes; the CLI's live display subclasses it. Does nothing."""

    def started(self, total: int, engine_note: str) -> None:
        """The run knows its images (this rank's share) and its engine."""

    def image_done(self, record: ImageRecord) -> None:
        """One image finished: ok, cached, skipped or failed (called from run threads)."""
