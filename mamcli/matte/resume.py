"""Resume: is an image's earlier record still true for this run?

An image is `cached` when its record says `ok` and matches this run in all of: the
fingerprint (every output-changing option, `MatteConfig.settings()`, plus what the engine
resolved to: engine, precision, checkpoint contents), the input file (size and mtime of
the resolved path), the prompts this image gets now (`PromptSources.identity`) and the
outputs still on disk. Anything else is recomputed.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import Any

from mamcli.errors import MamError
from mamcli.imaging.write import OutputLayout
from mamcli.matte.config import MatteConfig
from mamcli.matte.record import ImageRecord, Status
from mamcli.options import fingerprint
from mamcli.results import ImageItem


def file_stat(path: Path) -> list[int] | None:
    """A file's identity for resume: size and mtime of the resolved path."""
    try:
        info = path.resolve().stat()
    except (OSError, RuntimeError):  # RuntimeError: a symlink loop (Python < 3.13)
        return None
    return [info.st_size, info.st_mtime_ns]


def _background_identity(spec: str) -> Any:
    """Size and mtime of a background image, or of each file of a background folder."""
    path = Path(spec)
    if path.is_file():
        return file_stat(path)
    if path.is_dir():
        return [[p.name, file_stat(p)] for p in sorted(path.iterdir()) if p.is_file()]
    return None


class ResumeCheck:
    """The fingerprint of this run and the per-image checks against earlier records."""

    def __init__(self, config: MatteConfig, engine_identity: dict[str, Any]) -> None:
        self.config = config
        self.layout = OutputLayout(config.out_dir)
        self.fingerprint = fingerprint(
            config.settings(), engine_identity, _background_identity(config.background)
        )
        self._prompt_ids: dict[PurePosixPath, str] = {}

    def prompt_identity(self, item: ImageItem) -> str:
        """This image's prompts as resolved now (source and entry hash); computed once."""
        if item.rel not in self._prompt_ids:
            try:
                self._prompt_ids[item.rel] = self.config.prompts.identity(item)
            except MamError as exc:  # a bad prompt file: never cached, reported when loaded
                self._prompt_ids[item.rel] = f"error:{exc}"
        return self._prompt_ids[item.rel]

    def previous(self, item: ImageItem) -> ImageRecord | None:
        """The earlier record of this image if it is still true for this run, else None."""
        if self.config.overwrite:
            return None
        record = ImageRecord.read(self.layout.record(item.rel))
        same = (
            record is not None
            and record.status == Status.OK
            and record.settings == self.fingerprint
            and record.input_stat == file_stat(item.path)
            and record.prompt_identity == self.prompt_identity(item)
            and all(Path(p).is_file() for p in record.outputs.values())
        )
        return record if same else None
