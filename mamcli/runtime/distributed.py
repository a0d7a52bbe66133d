"""Several workers, one output folder: torch.distributed ranks, each with a contiguous shard.

Under `torchrun` (one or many nodes) the environment says the rank and world size;
`--devices a,b` spawns one process per device with the same environment, so both paths
run the same code. Rank r writes `manifest.rank<r>.jsonl`; rank 0 merges them after a
barrier.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from mamcli.runtime.atomic import atomic_write_text

T = TypeVar("T")


@dataclass(frozen=True)
class Rank:
    """This process's place among the workers."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def current_rank() -> Rank:
    """Rank and world size from the environment torchrun (or `--devices`) sets."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Rank()
    return Rank(int(os.environ["RANK"]), world, int(os.environ.get("LOCAL_RANK", "0")))


def init_group(rank: Rank, device: torch.device) -> None:
    """Join the process group (NCCL on CUDA, gloo elsewhere) when there are several ranks."""
    if rank.world > 1 and not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        dist.init_process_group(backend=backend, rank=rank.rank, world_size=rank.world)


def barrier(rank: Rank) -> None:
    if rank.world > 1 and dist.is_initialized():
        dist.barrier()


def close_group() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def shard(items: Sequence[T], rank: Rank) -> list[T]:
    """Contiguous, uneven shards that cover `items` exactly once (no padding, no repeats)."""
    n = len(items)
    return list(items[rank.rank * n // rank.world : (rank.rank + 1) * n // rank.world])


def rank_manifest(out_dir: Path, rank: Rank) -> Path:
    name = "manifest.jsonl" if rank.world == 1 else f"manifest.rank{rank.rank}.jsonl"
    return out_dir / name


def write_manifest(path: Path, lines: Sequence[dict]) -> None:
    atomic_write_text(path, "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines))


def merge_manifests(out_dir: Path, world: int) -> Path:
    """Rank 0: join every rank's manifest into manifest.jsonl (sorted by input path)."""
    lines = []
    for r in range(world):
        part = out_dir / f"manifest.rank{r}.jsonl"
        lines += [json.loads(line) for line in part.read_text().splitlines() if line.strip()]
    lines.sort(key=lambda line: (line.get("rel", ""), line.get("input", "")))
    target = out_dir / "manifest.jsonl"
    write_manifest(target, lines)
    for r in range(world):
        (out_dir / f"manifest.rank{r}.jsonl").unlink()
    return target


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _worker(index: int, world: int, port: int, fn: Callable, args: tuple) -> None:
    os.environ.update(
        RANK=str(index),
        LOCAL_RANK=str(index),
        WORLD_SIZE=str(world),
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
    )
    fn(*args)


def spawn(world: int, fn: Callable, args: tuple) -> None:
    """Start `world` processes running fn(*args) as ranks 0..world-1 (as torchrun would)."""
    mp.start_processes(_worker, args=(world, _free_port(), fn, args), nprocs=world, join=True)
