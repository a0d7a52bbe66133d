"""One image's record: what was done to it, with what, and where its outputs are.

A record is written atomically under OUT/.mam/records/ after the image's outputs; resume
and the manifest (one JSON line per record) are built from records. The JSON keys are
the field names; docs/reliability.md describes them.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any


class Status(str, Enum):
    """Where an image stands. `cached`: an earlier run made the same outputs (resume);
    `skipped`: no prompt and `--auto none`; `failed`: `error` says why."""

    PENDING = "pending"
    OK = "ok"
    CACHED = "cached"
    SKIPPED = "skipped"
    FAILED = "failed"


@dataclass
class ImageRecord:
    """The record of one input image (handed from loader to model to writer thread)."""

    input: str
    rel: str
    status: Status = Status.PENDING
    error: str | None = None
    outputs: dict[str, str] = field(default_factory=dict)
    prompts: list[dict[str, Any]] = field(default_factory=list)
    prompt_source: str | None = None
    prompt_identity: str | None = None
    input_stat: list[int] | None = None
    engine: dict[str, Any] = field(default_factory=dict)
    settings: str | None = None
    size: list[int] | None = None
    timings: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    text_detections: list[dict[str, Any]] | None = None

    def fail(self, message: str) -> ImageRecord:
        self.status, self.error = Status.FAILED, message
        return self

    def to_json(self) -> str:
        data = dataclasses.asdict(self)
        data["status"] = self.status.value
        if self.text_detections is None:
            del data["text_detections"]
        return json.dumps(data, ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> ImageRecord | None:
        """A record read back, or None when the text is not one (torn, foreign, old)."""
        try:
            data = json.loads(text)
            known = {f.name for f in dataclasses.fields(cls)}
            record = cls(**{k: v for k, v in data.items() if k in known})
            record.status = Status(record.status)
        except (ValueError, TypeError, AttributeError):
            return None
        return record

    @classmethod
    def read(cls, path: Path) -> ImageRecord | None:
        try:
            return cls.from_json(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError):
            return None
