"""A test-only hook: `MAM_TEST_PAUSE_AFTER=N` pauses the run once N images are finished.

The process then prints "mam: test pause after N images" to stderr and waits until it is
interrupted or killed, so tests can send SIGINT/SIGKILL at a known point instead of
racing a clock. The N-th image's outputs and record are complete when the line appears.
"""

from __future__ import annotations

import os
import sys
import threading
from typing import Any

from mamcli.matte.record import ImageRecord
from mamcli.matte.summary import Progress

ENV = "MAM_TEST_PAUSE_AFTER"


class PausingProgress:
    """Forwards to `inner`; the N-th finished image blocks its thread until `release()`."""

    def __init__(self, inner: Progress, after: int) -> None:
        self.inner = inner
        self.after = after
        self.count = 0
        self._lock = threading.Lock()
        self._released = threading.Event()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)  # every other progress event goes through

    def image_done(self, record: ImageRecord) -> None:
        self.inner.image_done(record)
        with self._lock:
            self.count += 1
            reached = self.count == self.after
        if reached:
            print(f"mam: test pause after {self.after} images", file=sys.stderr, flush=True)
        if self.count >= self.after:
            self._released.wait()

    def release(self) -> None:
        self._released.set()


def with_test_pause(progress: Progress) -> Progress | PausingProgress:
    """`progress`, wrapped in the pause hook when MAM_TEST_PAUSE_AFTER is set."""
    value = os.environ.get(ENV, "")
    return PausingProgress(progress, int(value)) if value.isdigit() else progress


def release(progress: Progress | PausingProgress) -> None:
    """Let a paused run go on (its Ctrl-C handling waits for the paused thread)."""
    if isinstance(progress, PausingProgress):
        progress.release()
