"""Ending the process without the interpreter's teardown.

Once torch is imported, Python's shutdown (clearing every module and freeing every object
one by one) takes about half a second (measured: `python -c "import torch"` 1.9 to 2.1 s,
1.4 to 1.5 s with the teardown skipped), which every `mam` run would otherwise wait for
after its last file is written. What shutdown does that matters is done here first:
waiting for non-daemon threads, the `atexit` handlers (temporary folders, thread pools,
logging), and flushing the standard streams.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import sys
import threading
from typing import NoReturn


def exit_code(code: object) -> int:
    """The exit status `sys.exit(code)` would give (None: 0; text: printed, 1)."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)
    return 1


def exit_without_teardown(code: object) -> NoReturn:
    """Exit with `code` (as `sys.exit` takes it) once threads, atexit handlers and the
    standard streams are done, skipping the module teardown."""
    status = exit_code(code)
    for thread in threading.enumerate():
        if thread is not threading.current_thread() and not thread.daemon:
            thread.join()
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed or broken pipe
            stream.flush()
    os._exit(status)
