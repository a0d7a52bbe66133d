"""Ending `mam` without the interpreter's teardown still does what shutdown must do."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _run(body: str, tmp_path: Path) -> subprocess.CompletedProcess:
    script = textwrap.dedent(
        f"""
        import atexit, sys, threading
        from pathlib import Path
        from mamcli.runtime.exit import exit_without_teardown
        out = Path({str(tmp_path)!r})
        release = threading.Event()

        def late_writer():
            release.wait()
            total = sum(range(3_000_000))  # still busy when exit is asked for
            (out / "thread.txt").write_text(f"written {{total > 0}}")

        threading.Thread(target=late_writer).start()  # not a daemon: shutdown waits for it
        atexit.register(lambda: (out / "atexit.txt").write_text("ran"))
        sys.stdout.write("buffered, no newline")
        release.set()
        """
    ) + textwrap.dedent(body)
    return subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO, check=False
    )


@pytest.mark.parametrize(("code", "status"), [("0", 0), ("3", 3), ("None", 0)])
def test_threads_atexit_handlers_and_streams_are_finished_first(
    tmp_path: Path, code: str, status: int
) -> None:
    done = _run(f"exit_without_teardown({code})\nprint('not reached')\n", tmp_path)
    assert done.returncode == status, done.stderr
    assert done.stdout == "buffered, no newline"
    assert (tmp_path / "thread.txt").read_text() == "written True"
    assert (tmp_path / "atexit.txt").read_text() == "ran"


def test_a_text_code_is_printed_and_exits_1(tmp_path: Path) -> None:
    done = _run("exit_without_teardown('mam: error: something')\n", tmp_path)
    assert done.returncode == 1
    assert done.stderr.strip() == "mam: error: something"
