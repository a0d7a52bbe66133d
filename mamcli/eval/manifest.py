"""What a `mam matte` output root says about its predictions: OUT/manifest.jsonl.

One JSON object per line and image, with the input path ("input"), its path relative to the
input root ("rel"), the engine ("engine", a dict) and the settings fingerprint ("settings").
The eval report shows the engine and settings, and finds each prediction's photo here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from mamcli.eval.files import stem_key

MANIFEST_NAME = "manifest.jsonl"


@dataclass
class Manifest:
    """The parts of a manifest the eval report uses; skipped counts unreadable lines."""

    path: Path
    engine: dict = field(default_factory=dict)
    settings: list[str] = field(default_factory=list)
    inputs: dict[str, Path] = field(default_factory=dict)
    skipped: int = 0


def read_manifest(root: Path) -> Manifest | None:
    """The manifest of the output root `root`, or None when there is none."""
    path = root / MANIFEST_NAME
    if not path.is_file():
        return None
    manifest = Manifest(path)
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            rel, source = Path(str(record["rel"])), Path(str(record["input"]))
        except (ValueError, KeyError, TypeError):
            manifest.skipped += 1
            continue
        manifest.inputs[stem_key(rel)] = source
        if isinstance(record.get("engine"), dict) and not manifest.engine:
            manifest.engine = record["engine"]
        settings = str(record.get("settings", ""))
        if settings and settings not in manifest.settings:
            manifest.settings.append(settings)
    return manifest
