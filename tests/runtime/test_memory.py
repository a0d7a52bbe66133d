"""The allocator tuning of `mam matte` applies on glibc and leaves a user's own settings."""

from __future__ import annotations

import os
import platform
import subprocess
import sys

import pytest

CODE = "from mamcli.runtime.memory import reuse_freed_memory as r; print(r(), r())"


def _run(env: dict[str, str]) -> str:
    done = subprocess.run(
        [sys.executable, "-c", CODE], capture_output=True, text=True, env=env, check=True
    )
    return done.stdout.strip()


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc's mallopt only")
def test_thresholds_are_set_once_on_glibc() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    assert _run(env) == "True True"


def test_a_users_own_malloc_settings_are_left_alone() -> None:
    assert _run({**os.environ, "MALLOC_TRIM_THRESHOLD_": "131072"}) == "False False"
