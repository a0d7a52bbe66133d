"""Several workers, one job: the rank/world helper shared by `mam matte` and `mam train`.

Under `torchrun` (one or many nodes) the environment says the rank and world size;
`--devices a,b` spawns one process per device with the same environment, so both paths
run the same code. This module is the only place that reads RANK / WORLD_SIZE /
LOCAL_RANK, joins or leaves the process group (gloo on the CPU, nccl on CUDA) and
shards work. For `mam matte`, rank r writes `manifest.rank<r>.jsonl`; rank 0 merges them
after a barrier.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from mamcli.errors import UsageError
from mamcli.runtime.atomic import atomic_write_text

T = TypeVar("T")


@dataclass(frozen=True)
class Rank:
    """This process's place among the workers (rank 0 of 1 without torchrun)."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Rank:
        """Read WORLD_SIZE, RANK and LOCAL_RANK as torchrun sets them; a bad value is a
        UsageError naming the variable."""
        world = _env_int(env, "WORLD_SIZE", 1)
        if world < 1:
            raise UsageError(f"WORLD_SIZE={world}: must be >= 1")
        if world == 1:
            return cls()
        if "RANK" not in env:
            raise UsageError(f"WORLD_SIZE={world} but RANK is not set")
        rank = _env_int(env, "RANK", 0)
        if not 0 <= rank < world:
            raise UsageError(f"RANK={rank}: must be in 0..{world - 1} (WORLD_SIZE={world})")
        local_rank = _env_int(env, "LOCAL_RANK", 0)
        if local_rank < 0:
            raise UsageError(f"LOCAL_RANK={local_rank}: must be >= 0")
        return cls(rank, world, local_rank)


def _env_int(env: Mapping[str, str], name: str, default: int) -> int:
    text = env.get(name, "").strip()
    if not text:
        return default
    try:
        return int(text)
    except ValueError:
        raise UsageError(f"{name}={text!r}: not an integer") from None


def current_rank() -> Rank:
    """Rank and world size from the environment torchrun (or `--devices`) sets."""
    return Rank.from_env(os.environ)


def rank_device(rank: Rank, device: torch.device) -> torch.device:
    """The device this rank uses: CUDA ranks of a job take GPU LOCAL_RANK (and select it)."""
    if rank.world > 1 and device.type == "cuda" and device.index is None:
        device = torch.device("cuda", rank.local_rank)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    return device


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


def mean(value: torch.Tensor, rank: Rank) -> float:
    """The mean of a scalar tensor over all ranks (the value itself with one rank)."""
    value = value.detach().clone().float()
    if rank.world > 1 and dist.is_initialized():
        dist.all_reduce(value)
        value /= rank.world
    return float(value)


def shard(items: Sequence[T], rank: Rank) -> list[T]:
    """Contiguous, uneven shards that cover `items` exactly once (no padding, no repeats)."""
    n = len(items)
    return list(items[rank.rank * n // rank.world : (rank.rank + 1) * n // rank.world])


def rank_manifest(out_dir: Path, rank: Rank) -> Path:
    name = "manifest.jsonl" if rank.world == 1 else f"manifest.rank{rank.rank}.jsonl"
    return out_dir / name


def write_manifest(path: Path, lines: Sequence[str]) -> None:
    """Write JSON lines (one record each) atomically."""
    atomic_write_text(path, "".join(line + "\n" for line in lines))


def merge_manifests(out_dir: Path, world: int) -> Path:
    """Rank 0: join every rank's manifest into manifest.jsonl (sorted by input path)."""
    lines = []
    for r in range(world):
        part = out_dir / f"manifest.rank{r}.jsonl"
        lines += [line for line in part.read_text().splitlines() if line.strip()]

    def key(line: str) -> tuple[str, str]:
        record = json.loads(line)
        return record.get("rel", ""), record.get("input", "")

    lines.sort(key=key)
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
