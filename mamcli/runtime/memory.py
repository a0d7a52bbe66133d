"""Let glibc keep freed memory for reuse, so large tensors are not page-faulted in afresh.

glibc serves each allocation above its mmap threshold (128 KiB, adjusted upwards as large
blocks are freed) with a fresh mapping, and returns free memory above its trim threshold
to the system. A batch of images allocates and frees the same large activations over and
over (the prompt decoder's 4 x 4096 x 256 tokens, M2M's 1024 x 1024 maps), and each fresh
mapping is zero-filled page by page on first touch: measured, the prompt decoder spends a
fifth of its time there. Serving blocks up to 32 MiB (the most glibc's own sliding
threshold reaches) from the heap and keeping up to 1 GiB of free memory makes later blocks
reuse the pages (decoder 0.51 -> 0.44 s for 4 prompts on one core). At bf16 every block
of ViT-B's encoder and M2M at 1024 px fits; at fp32 a few do not, and a 1 GiB threshold
(which glibc 2.36 accepts) removed their faults for 3 % of M2M and no clear encoder gain
(docs/performance.md), so the larger blocks stay mapped. Peak memory is unchanged; memory
freed after the peak may stay with the process. Does nothing where glibc is not the allocator,
or when the user set MALLOC_MMAP_THRESHOLD_ / MALLOC_TRIM_THRESHOLD_ themselves.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
from functools import cache
from pathlib import Path

M_TRIM_THRESHOLD = -1  # mallopt parameters, from glibc's malloc.h
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 32 << 20
TRIM_THRESHOLD = 1 << 30


@cache
def reuse_freed_memory() -> bool:
    """Set glibc's thresholds once per process; True if they were set."""
    if {"MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_"} & set(os.environ):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt  # the C library the interpreter runs on
    except (OSError, AttributeError, TypeError):  # not glibc (musl, macOS, Windows)
        return False
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(
        mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD)
    )


def peak_rss_mib() -> float:
    """This process's peak resident memory in MiB: VmHWM where Linux has it, since
    ru_maxrss keeps the parent's peak across fork + exec (a child of a large process would
    report the parent's memory); ru_maxrss (KiB on Linux) elsewhere."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    import resource  # Unix only

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
