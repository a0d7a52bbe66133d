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
    """Draws one rich progress bar, from the first byte on: a source that cannot be
    reached leaves no empty bar above the error line."""

    def __init__(self, console, label: str) -> None:  # type: ignore[no-untyped-def]
        self._console = console
        self._label = label
        self._progress = None
        self._task = None

    def start(self, total: int | None) -> None:
        if self._progress is None:
            from rich.progress import (
                BarColumn,
                DownloadColumn,
                Progress,
                TextColumn,
                TimeRemainingColumn,
                TransferSpeedColumn,
            )

            self._progress = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                DownloadColumn(),
                TransferSpeedColumn(),
                TimeRemainingColumn(),
                console=self._console,
            )
            self._progress.start()
            self._task = self._progress.add_task(self._label, total=total)
        self._progress.reset(self._task, total=total)

    def advance(self, count: int) -> None:
        if self._progress is not None:
            self._progress.advance(self._task, count)

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()


@contextlib.contextmanager
def meter(label: str, enabled: bool) -> Iterator[Meter]:
    """A Meter that draws a progress bar on stderr when `enabled` and stderr is a terminal;
    a silent one otherwise (logs and pipes get no bar and no carriage returns)."""
    if not enabled:
        yield Meter()
        return
    from rich.console import Console

    console = Console(stderr=True)
    if not console.is_terminal:
        yield Meter()
        return
    bar = _BarMeter(console, label)
    try:
        yield bar
    finally:
        bar.close()
