"""One run per output folder: a lock file holding the holder's pid and host.

The lock is created atomically (O_CREAT | O_EXCL), so two runs starting together cannot
both get it. A lock whose holder is gone (same host, pid not alive) is stale and taken
over; a lock held by a live process, or by another host (which cannot be checked from
here), refuses the run with BusyError (exit 5).
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sys
from dataclasses import dataclass
from pathlib import Path

from mamcli.errors import BusyError, OutputError


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by another user
        return True
    return True


@dataclass
class OutputLock:
    """The lock file `path` (OUT/.mam/lock); `acquire()`, then `release()` when done."""

    path: Path
    held: bool = False

    def holder(self) -> dict | None:
        """The lock's content, {} when it is empty or torn, None when there is no lock."""
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def acquire(self) -> None:
        """Take the lock, or take over a stale one; BusyError if a live run holds it."""
        me = json.dumps({"pid": os.getpid(), "host": socket.gethostname()}).encode()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputError(f"{self.path.parent}: cannot create: {exc.strerror}") from None
        for _ in range(3):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                self._check_stale()
                continue
            except OSError as exc:
                raise OutputError(f"{self.path}: cannot create the lock: {exc.strerror}") from None
            try:
                os.write(fd, me)
            finally:
                os.close(fd)
            self.held = True
            return
        raise BusyError(f"{self.path}: another run keeps taking this output folder's lock")

    def _check_stale(self) -> None:
        """Remove the lock if its holder is dead, else raise BusyError naming the holder."""
        holder = self.holder()
        if holder is None:
            return  # released meanwhile: try again
        pid, host = holder.get("pid"), holder.get("host")
        here = socket.gethostname()
        if isinstance(pid, int) and host == here and _alive(pid):
            raise BusyError(f"{self.path.parent.parent}: in use by another mam run (pid {pid})")
        if isinstance(pid, int) and host != here:
            raise BusyError(
                f"{self.path.parent.parent}: in use by a mam run on {host} (pid {pid}); "
                f"delete {self.path} if that run is gone"
            )
        who = f"pid {pid} on {host}" if isinstance(pid, int) else "an unreadable lock"
        print(f"mam: taking over the stale lock of {who} ({self.path})", file=sys.stderr)
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    def release(self) -> None:
        """Remove the lock if this process holds it."""
        if self.held:
            self.held = False
            with contextlib.suppress(OSError):
                self.path.unlink()
