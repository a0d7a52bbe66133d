"""The test pause hook (mamcli/runtime/pause.py) for `mam matte`: the run pauses once N
images are finished; the N-th image's outputs and record are complete by then."""

from __future__ import annotations

import threading
from typing import Any

from mamcli.matte.record import ImageRecord
from mamcli.matte.summary import Progress
from mamcli.runtime.pause import announce_and_wait, pause_count


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
            announce_and_wait(self.after, "images", self._released)
        elif self.count > self.after:
            self._released.wait()

    def release(self) -> None:
        self._released.set()


def with_test_pause(progress: Progress) -> Progress | PausingProgress:
    """`progress`, wrapped in the pause hook when MAM_TEST_PAUSE_AFTER is set."""
    after = pause_count()
    return progress if after is None else PausingProgress(progress, after)


def release(progress: Progress | PausingProgress) -> None:
    """Let a paused run go on (its Ctrl-C handling waits for the paused thread)."""
    if isinstance(progress, PausingProgress):
        progress.release()
