"""SISA and RecEraser: balanced partitions, and unlearning that retrains only the affected shards."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from conftest import parameter_digest
from recsys_support import make_rec_task, tiny_interactions
from unlearnkit.errors import InvalidParameterError
from unlearnkit.methods.recsys import RecEraser, Sisa
from unlearnkit.methods.recsys.partition import balanced_assign, interaction_partition
from unlearnkit.models.recsys.embedding import all_scores
from unlearnkit.models.recsys.sharded import ShardedRecommender


def test_balanced_assign_respects_capacity_and_preference() -> None:
    distance = np.array([[0.0, 5.0], [1.0, 4.0], [2.0, 3.0], [9.0, 0.0]])
    assign = balanced_assign(distance, capacity=2)
    # rows 0 and 1 are nearest to shard 0; row 2 also prefers it but shard 0 is full
    assert assign.tolist() == [0, 0, 1, 1]
    with pytest.raises(ValueError, match="cannot hold"):
        balanced_assign(distance, capacity=1)


def test_interaction_partition_is_balanced_and_covers_every_row() -> None:
    generator = torch.Generator().manual_seed(0)
    users = torch.randn(200, 4, generator=generator)
    items = torch.randn(200, 4, generator=generator)
    assign = interaction_partition(users, items, n_shards=4, iterations=5, capacity_factor=1.2, generator=generator)
    counts = np.bincount(assign, minlength=4)
    assert counts.sum() == 200 and counts.min() > 0
    assert counts.max() <= math.ceil(1.2 * 200 / 4)


def sub_split(forget_shard_rows: np.ndarray):
    _, split = tiny_interactions()
    return split.with_forget(np.sort(forget_shard_rows))


@pytest.mark.parametrize("method", [Sisa(n_shards=3), RecEraser(n_shards=3, aggregator_epochs=3)])
def test_only_affected_shards_are_retrained(method: Sisa | RecEraser) -> None:
    task = make_rec_task("mf", seed=0)
    original = method.train_original(task)
    assert isinstance(original, ShardedRecommender)
    covered = np.sort(np.concatenate(original.shard_rows))
    assert np.array_equal(covered, task.split.train)
    # forget three rows, all from shard 1
    forget = original.shard_rows[1][:3]
    result = method.unlearn(original, make_rec_task("mf", seed=1, split=sub_split(forget)))
    assert result.diagnostics["retrained_shards"] == [1]
    unlearned = result.model
    for k in (0, 2):
        assert parameter_digest(unlearned.members[k]) == parameter_digest(original.members[k])
    assert parameter_digest(unlearned.members[1]) != parameter_digest(original.members[1])
    assert np.array_equal(unlearned.shard_rows[1], np.setdiff1d(original.shard_rows[1], forget))
    assert not np.isin(forget, np.concatenate(unlearned.shard_rows)).any()
    # full-ranking scores agree with pairwise scores
    users = torch.tensor([0, 1, 2])
    matrix = all_scores(unlearned, users)
    assert matrix.shape == (3, task.data.n_items)
    with torch.no_grad():
        pairs = unlearned.score(users.repeat_interleave(task.data.n_items), torch.arange(task.data.n_items).repeat(3))
    assert torch.allclose(matrix.flatten(), pairs, atol=1e-5)


def test_sharded_methods_reject_a_plain_original() -> None:
    from recsys_support import tiny_original

    with pytest.raises(InvalidParameterError, match="train_original"):
        Sisa(n_shards=3).unlearn(tiny_original("mf"), make_rec_task("mf"))
