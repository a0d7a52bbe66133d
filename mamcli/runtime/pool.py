"""Run one function over many items: in worker processes with a progress bar, or in
threads a bounded number of items ahead of the consumer."""

from __future__ import annotations

import multiprocessing
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor, as_completed
from typing import TypeVar

from tqdm import tqdm

T = TypeVar("T")
R = TypeVar("R")


def default_workers() -> int:
    """One process per CPU core, at most 8 (reading PNGs and labelling do not scale further)."""
    return max(1, min(8, os.cpu_count() or 1))


def _context() -> multiprocessing.context.BaseContext:
    """fork where the platform has it: workers start at once and need not re-import the
    caller's main module (which `python -m mamcli` would run again); spawn elsewhere."""
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("fork" if "fork" in methods else "spawn")


def parallel_map(
    fn: Callable[[T], R],
    items: Iterable[T],
    workers: int | None = None,
    desc: str = "",
    progress: bool = True,
) -> Iterator[R]:
    """Yield fn(item) for every item, in completion order.

    `fn` must be a module-level function (it is pickled to the workers). With one worker
    (or one item) it runs in this process. The progress bar goes to stderr and only shows
    on a terminal.
    """
    items = list(items)
    workers = default_workers() if workers is None else max(1, workers)
    disable = None if progress else True
    if workers == 1 or len(items) <= 1:
        with tqdm(total=len(items), desc=desc, unit="file", disable=disable) as bar:
            for item in items:
                yield fn(item)
                bar.update()
        return
    pool = ProcessPoolExecutor(max_workers=min(workers, len(items)), mp_context=_context())
    with pool:
        futures = [pool.submit(fn, item) for item in items]  # forks before tqdm's thread
        with tqdm(total=len(items), desc=desc, unit="file", disable=disable) as bar:
            for future in as_completed(futures):
                yield future.result()
                bar.update()


def prefetch(
    pool: ThreadPoolExecutor, fn: Callable[[T], R], items: Iterable[T], depth: int
) -> Iterator[tuple[T, R]]:
    """Yield (item, fn(item)) in order, with fn running in `pool` at most `depth` items
    ahead of the consumer (bounded memory: decoded images wait for the model)."""
    pending: deque[tuple[T, Future]] = deque()
    queue = iter(items)
    for item in queue:
        pending.append((item, pool.submit(fn, item)))
        if len(pending) >= depth:
            break
    while pending:
        item, future = pending.popleft()
        next_item = next(queue, None)
        if next_item is not None:
            pending.append((next_item, pool.submit(fn, next_item)))
        yield item, future.result()
