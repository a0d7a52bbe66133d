"""A test-only hook: `MAM_TEST_PAUSE_AFTER=N` pauses a run at a known point.

When the N-th unit of work is complete (an image of `mam matte`, a checkpointed step of
`mam train`), the process prints "mam: test pause after N <unit>" to stderr and waits
until it is interrupted or killed. Tests synchronise on that line instead of racing a
clock (docs/reliability.md).
"""

from __future__ import annotations

import os
import sys
import threading

ENV = "MAM_TEST_PAUSE_AFTER"


def pause_count() -> int | None:
    """N from MAM_TEST_PAUSE_AFTER, or None when the hook is off."""
    value = os.environ.get(ENV, "")
    return int(value) if value.isdigit() else None


def announce_and_wait(count: int, unit: str, released: threading.Event) -> None:
    """Print the pause line, then block this thread until `released` is set."""
    print(f"mam: test pause after {count} {unit}", file=sys.stderr, flush=True)
    released.wait()
