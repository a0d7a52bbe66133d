"""Import a slow module in the background, and say so when a run has to wait for it.

pymatting declares its numba kernels with explicit signatures and `cache=True`: the
first import on a machine compiles them all (measured: 41 s on one core of a 2-core
Xeon VM, see docs/performance.md), later imports load them from numba's cache in about a
second. `mam matte` starts that import when a run will need pymatting, so it overlaps with
model loading and image decoding, and tells the user what the wait is, instead of
sitting silent for minutes on a fresh install.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable


class BackgroundImport:
    """`importlib.import_module(name)` in a daemon thread, started at once."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=f"import-{name}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            importlib.import_module(self.name)
        except BaseException as exc:  # the importer's own `import` raises it again, in place
            self.error = exc

    def wait(self, patience: float, on_slow: Callable[[], None]) -> None:
        """Block until the import is done; if it is not done within `patience` seconds,
        call `on_slow` (once) first, then keep waiting."""
        self._thread.join(patience)
        if self._thread.is_alive():
            on_slow()
            self._thread.join()


PATIENCE_S = 3.0  # a warm import takes about 1 s
PYMATTING_WAIT = (
    "waiting for pymatting to load (the first time on a machine it compiles its numba "
    "kernels, once: about a minute)"
)
