"""Download progress: a rich bar (bytes, speed, ETA) on a terminal, silence elsewhere."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator


class Meter:
    """Counts the bytes of one transfer; draws nothing (the form used off a terminal)."""

    def start(self, total: int | None) -> None:
        """A new transfer begins (again): `total` bytes, or None when unknown."""

    def advance(self, count: int) -> None:
        """`count` more bytes arrived (negative when a transfer restarts)."""


class _BarMeter(Meter):
    """Feeds one task of a rich Progress."""

    def __init__(self, progress, label: str) -> None:  # type: ignore[no-untyped-def]
        self._progress = progress
        self._task = progress.add_task(label, total=None)

    def start(self, total: int | None) -> None:
        self._progress.reset(self._task, total=total)

    def advance(self, count: int) -> None:
        self._progress.advance(self._task, count)


@contextlib.contextmanager
def meter(label: str, enabled: bool) -> Iterator[Meter]:
    """A Meter that draws a progress bar on stderr when `enabled` and stderr is a terminal;
    a silent one otherwise (logs and pipes get no bar and no carriage returns)."""
    if not enabled:
        yield Meter()
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    console = Console(stderr=True)
    if not console.is_terminal:
        yield Meter()
        return
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, transient=False) as progress:
        yield _BarMeter(progress, label)
