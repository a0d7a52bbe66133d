"""The live display of `mam matte` on stderr: the engine line first, then a progress bar
(a terminal) or plain lines (CI logs), failed images as they fail, and the Ctrl-C note.

`run_matte` calls `image_done` from its worker threads, so every method takes one lock.
User text (file names, errors) is escaped: a name like `[bold]x.png` prints as it is.
"""

from __future__ import annotations

import threading
import time
from enum import IntEnum

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    ProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.progress import Progress as Bar
from rich.text import Text

from mamcli.matte.record import ImageRecord, Status
from mamcli.matte.summary import Progress

# Plain (non-terminal) output prints a count line each time this share of the run is done.
PLAIN_STEP = 0.1


class Verbosity(IntEnum):
    QUIET = 0  # errors only
    NORMAL = 1
    VERBOSE = 2  # one line per image


class ImagesPerSecond(ProgressColumn):
    """Finished images per second since the start."""

    def render(self, task) -> Text:  # type: ignore[no-untyped-def]
        speed = task.finished_speed or task.speed
        return Text(f"{speed:.2f} img/s" if speed else "- img/s", style="progress.data.speed")


def stderr_console() -> Console:
    """The console every `mam matte` line goes to (stdout stays for --json and `-o -`)."""
    return Console(stderr=True, highlight=False, soft_wrap=True)


class LiveDisplay(Progress):
    """Progress of a `mam matte` run on stderr (thread-safe)."""

    def __init__(self, verbosity: Verbosity, console: Console | None = None):
        self.verbosity = verbosity
        self.console = console or stderr_console()
        self.engine = ""
        self.total = 0
        self.done = 0
        self._lock = threading.Lock()
        self._bar: Bar | None = None
        self._task = None
        self._next_plain = 0
        self._start = time.perf_counter()

    def started(self, total: int, engine: str, engine_note: str) -> None:
        with self._lock:
            self.total, self.done = total, 0
            self.engine = engine
            self._start = time.perf_counter()
            self._next_plain = self._plain_step()
            if self.verbosity >= Verbosity.NORMAL:
                self.console.print(
                    f"engine: {escape(self.engine)} ({escape(engine_note)}); {total} images"
                )
            if self.verbosity >= Verbosity.NORMAL and self.console.is_terminal and total:
                self._bar = Bar(
                    TextColumn("matting"),
                    BarColumn(),
                    MofNCompleteColumn(),
                    ImagesPerSecond(),
                    TimeElapsedColumn(),
                    TextColumn("eta"),
                    TimeRemainingColumn(),
                    console=self.console,
                    transient=True,
                )
                self._task = self._bar.add_task("matting", total=total)
                self._bar.start()

    def image_done(self, record: ImageRecord) -> None:
        with self._lock:
            self.done += 1
            if record.status == Status.FAILED:
                self._line(f"[red]failed[/red] {escape(record.error or record.rel)}")
            else:
                if record.status == Status.OK and self.verbosity >= Verbosity.NORMAL:
                    for warning in record.warnings:  # clipped boxes, empty masks, ...
                        text = warning if record.rel in warning else f"{record.rel}: {warning}"
                        self._line(f"[yellow]warning[/yellow] {escape(text)}")
                if self.verbosity >= Verbosity.VERBOSE:
                    self._line(self._image_line(record))
                elif self.verbosity >= Verbosity.NORMAL and self._bar is None and self._count_due():
                    self._next_plain = self.done + self._plain_step()
                    self._line(self._count_line())
            if self._bar is not None:
                self._bar.update(self._task, completed=self.done)

    def notice(self, message: str) -> None:
        if self.verbosity >= Verbosity.NORMAL:
            with self._lock:
                self._line(escape(message))

    def close(self) -> None:
        """Take the bar down (before the summary, or on Ctrl-C)."""
        with self._lock:
            if self._bar is not None:
                self._bar.stop()
                self._bar = None

    def interrupted_note(self) -> str:
        """What Ctrl-C leaves behind, for the one line the CLI prints."""
        with self._lock:
            return (
                f"interrupted after {self.done} of {self.total} images; finished images are "
                "kept: run the same command again to resume"
            )

    # -- lines ------------------------------------------------------------------------
    def _plain_step(self) -> int:
        return max(1, round(self.total * PLAIN_STEP))

    def _count_due(self) -> bool:
        return self.done >= self._next_plain or self.done == self.total

    def _image_line(self, record: ImageRecord) -> str:
        seconds = sum(record.timings.values()) if record.status == Status.OK else 0.0
        took = f" {seconds:.2f}s" if seconds else ""
        return f"[{self.done}/{self.total}] {record.status.value} {escape(record.rel)}{took}"

    def _count_line(self) -> str:
        elapsed = max(time.perf_counter() - self._start, 1e-9)
        return f"[{self.done}/{self.total}] images done, {self.done / elapsed:.2f} img/s"

    def _line(self, text: str) -> None:
        (self._bar.console if self._bar is not None else self.console).print(text)
