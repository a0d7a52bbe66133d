"""The one rank/world helper: environment parsing, shards, and a real two-process group."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from mamcli.errors import UsageError
from mamcli.runtime import distributed
from mamcli.runtime.distributed import Rank


def test_no_torchrun_environment_is_rank_0_of_1() -> None:
    assert Rank.from_env({}) == Rank(0, 1, 0)
    assert Rank.from_env({"WORLD_SIZE": "1", "RANK": "0"}).is_main


def test_torchrun_environment_is_read() -> None:
    rank = Rank.from_env({"WORLD_SIZE": "4", "RANK": "3", "LOCAL_RANK": "1"})
    assert (rank.rank, rank.world, rank.local_rank, rank.is_main) == (3, 4, 1, False)
    assert Rank.from_env({"WORLD_SIZE": "2", "RANK": "0"}) == Rank(0, 2, 0)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"WORLD_SIZE": "two"}, "WORLD_SIZE='two': not an integer"),
        ({"WORLD_SIZE": "0"}, "WORLD_SIZE=0: must be >= 1"),
        ({"WORLD_SIZE": "2"}, "RANK is not set"),
        ({"WORLD_SIZE": "2", "RANK": "2"}, "RANK=2: must be in 0..1"),
        ({"WORLD_SIZE": "2", "RANK": "1", "LOCAL_RANK": "-1"}, "LOCAL_RANK=-1"),
    ],
)
def test_bad_environment_is_one_usage_error(env: dict[str, str], message: str) -> None:
    with pytest.raises(UsageError, match=message):
        Rank.from_env(env)


@pytest.mark.parametrize(("n", "world"), [(10, 3), (7, 4), (2, 5), (0, 2), (9, 1)])
def test_shards_are_contiguous_uneven_and_cover_every_item_once(n: int, world: int) -> None:
    items = list(range(n))
    shards = [distributed.shard(items, Rank(r, world)) for r in range(world)]
    assert [x for part in shards for x in part] == items  # in order, no repeats, no padding
    sizes = [len(part) for part in shards]
    assert max(sizes) - min(sizes) <= 1


def test_mean_of_one_rank_is_the_value() -> None:
    assert distributed.mean(torch.tensor(2.5, requires_grad=True), Rank()) == 2.5


def _report(out: Path) -> None:
    """A spawned rank: join the gloo group, average its rank, write what it saw."""
    rank = distributed.current_rank()
    device = distributed.rank_device(rank, torch.device("cpu"))
    distributed.init_group(rank, device)
    try:
        average = distributed.mean(torch.tensor(float(rank.rank)), rank)
        distributed.barrier(rank)
        mine = distributed.shard(list(range(5)), rank)
    finally:
        distributed.close_group()
    record = {"rank": rank.rank, "world": rank.world, "mean": average, "shard": mine}
    (out / f"rank{rank.rank}.json").write_text(json.dumps(record))


def test_spawned_ranks_join_one_group_and_share_the_work(tmp_path: Path) -> None:
    distributed.spawn(2, _report, (tmp_path,))
    records = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(2)]
    assert [(r["rank"], r["world"], r["mean"]) for r in records] == [(0, 2, 0.5), (1, 2, 0.5)]
    assert records[0]["shard"] + records[1]["shard"] == [0, 1, 2, 3, 4]
