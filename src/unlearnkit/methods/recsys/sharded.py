"""Exact unlearning by partition: SISA (random shards, averaged) and RecEraser (balanced shards, attention).

Both need their own original (:meth:`train_original`), which records the
training rows of every shard; unlearning retrains only the members whose
shard held a forgotten row (and RecEraser's aggregator) and reports which.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from unlearnkit.errors import InvalidParameterError
from unlearnkit.methods.recsys.partition import interaction_partition
from unlearnkit.methods.recsys.task import (
    RecommendationMethod,
    RecommendationTask,
    fit_fresh,
)
from unlearnkit.models.recsys.sharded import AttentionAggregator, ShardedRecommender
from unlearnkit.params import Interval
from unlearnkit.training.recsys import rows_tensors


def require_sharded(model: nn.Module, task: RecommendationTask, aggregation: str, method: str) -> ShardedRecommender:
    if not isinstance(model, ShardedRecommender) or model.aggregation != aggregation:
        raise InvalidParameterError(
            f"{method} unlearns the sharded original made by {method}.train_original (aggregation "
            f"{aggregation!r}); got {type(model).__name__}"
        )
    covered = np.sort(np.concatenate(model.shard_rows))
    if not np.array_equal(covered, np.sort(task.split.train)):
        raise InvalidParameterError(f"{method}: the sharded original was trained on other rows than this task's training set")
    return model


def fit_shards(task: RecommendationTask, shards: list[np.ndarray], label: str) -> list[nn.Module]:
    return [fit_fresh(task, rows, f"{label} shard {k}")[0] for k, rows in enumerate(shards)]


def retrain_affected(model: ShardedRecommender, task: RecommendationTask, label: str) -> dict[str, Any]:
    """Retrain the members whose shard held forgotten rows; drop shards left empty."""
    forget = task.split.forget
    affected = [k for k, rows in enumerate(model.shard_rows) if np.isin(rows, forget).any()]
    emptied, retrained_rows = [], 0
    for k in affected:
        remaining = np.setdiff1d(model.shard_rows[k], forget)
        model.shard_rows[k] = remaining
        if remaining.size == 0:
            emptied.append(k)
        else:
            model.members[k] = fit_fresh(task, remaining, f"{label} shard {k}")[0]
            retrained_rows += int(remaining.size)
    if emptied:
        keep = [k for k in range(len(model.members)) if k not in emptied]
        if not keep:
            raise InvalidParameterError(f"{label}: forgetting these rows empties every shard")
        model.members = nn.ModuleList([model.members[k] for k in keep])
        model.shard_rows = [model.shard_rows[k] for k in keep]
    return {
        "n_shards": len(model.shard_rows) + len(emptied),
        "retrained_shards": [k for k in affected if k not in emptied],
        "dropped_empty_shards": emptied,
        "retrained_rows": retrained_rows,
    }


class ShardedMethod(RecommendationMethod):
    """Shared by sharded methods: their own original is stored as a state dict plus each shard's rows."""

    original = "own"

    def original_state(self, model: nn.Module) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        if not isinstance(model, ShardedRecommender):
            raise InvalidParameterError(f"{type(self).__name__}'s original is a ShardedRecommender; got {type(model).__name__}")
        return dict(model.state_dict()), {"shard_rows": [rows.tolist() for rows in model.shard_rows]}

    def restore_original(self, task: RecommendationTask, state: dict[str, torch.Tensor], meta: dict[str, Any]) -> nn.Module:
        shard_rows = [np.asarray(rows, dtype=np.int64) for rows in meta["shard_rows"]]
        members = []
        for rows in shard_rows:
            # The generator only fills parameters that load_state_dict overwrites.
            member = task.model_builder.build(task.data.meta, torch.Generator().manual_seed(0))
            member.condition_on(task.data, rows)
            members.append(member)
        aggregator = None
        if any(name.startswith("aggregator.") for name in state):
            dim = members[0].user_embedding.shape[1]
            attention_dim = state["aggregator.attention.user.weight"].shape[0]
            aggregator = AttentionAggregator(len(members), dim, attention_dim)
        model = ShardedRecommender(members, shard_rows, aggregator)
        model.load_state_dict(state)
        model.eval()
        return model


class Sisa(ShardedMethod):
    """SISA: random disjoint shards, one model each, prediction = mean of the members' logits."""

    description = "SISA: random shards, averaged members; retrains only the shards holding forgotten rows"
    parameter_constraints = {"n_shards": Interval(int, 2, 1000)}
    search_space = {"n_shards": [3, 5, 10]}

    def __init__(self, *, n_shards: int = 5) -> None:
        self.n_shards = n_shards

    def train_original(self, task: RecommendationTask) -> ShardedRecommender:
        self.validate_params()
        train = task.split.train
        if self.n_shards > train.size:
            raise InvalidParameterError(f"n_shards={self.n_shards} exceeds the {train.size} training rows")
        order = torch.randperm(train.size, generator=task.generator).numpy()
        shards = np.array_split(train[order], self.n_shards)
        return ShardedRecommender(fit_shards(task, shards, "SISA"), shards, None)

    def _unlearn(self, model: nn.Module, task: RecommendationTask) -> tuple[nn.Module, dict[str, Any]]:
        ensemble = require_sharded(model, task, "average", "Sisa")
        return ensemble, retrain_affected(ensemble, task, "SISA")


class RecEraser(ShardedMethod):
    """RecEraser: balanced interaction shards from pretrained embeddings, attention aggregation.

    The original pretrains one model with the task's recipe, partitions the
    training rows by balanced k-means on its (user, item) embedding pairs,
    trains one member per shard, then trains the attention aggregator with
    members frozen. Unlearning retrains the affected members and a fresh
    aggregator on the retained rows.
    """

    description = "RecEraser: balanced shards on pretrained embeddings with an attention aggregator"
    parameter_constraints = {
        "n_shards": Interval(int, 2, 1000),
        "partition_iterations": Interval(int, 1, 1000),
        "capacity_factor": Interval(float, 1.0, 10.0),
        "attention_dim": Interval(int, 1, 1024),
        "aggregator_epochs": Interval(int, 1, 10_000),
        "aggregator_lr": Interval(float, 0.0, None, "neither"),
    }
    search_space = {"n_shards": [3, 5, 10], "aggregator_epochs": [10, 30]}

    def __init__(
        self,
        *,
        n_shards: int = 5,
        partition_iterations: int = 10,
        capacity_factor: float = 1.2,
        attention_dim: int = 32,
        aggregator_epochs: int = 20,
        aggregator_lr: float = 1e-2,
    ) -> None:
        self.n_shards = n_shards
        self.partition_iterations = partition_iterations
        self.capacity_factor = capacity_factor
        self.attention_dim = attention_dim
        self.aggregator_epochs = aggregator_epochs
        self.aggregator_lr = aggregator_lr

    def train_original(self, task: RecommendationTask) -> ShardedRecommender:
        self.validate_params()
        train = task.split.train
        pretrained, _ = fit_fresh(task, train, "RecEraser pretraining")
        with torch.no_grad():
            users, items = pretrained.final_embeddings()
        data = task.data
        assign = interaction_partition(
            users[data.user[train]], items[data.item[train]], self.n_shards,
            self.partition_iterations, self.capacity_factor, task.generator,
        )
        shards = [train[assign == k] for k in range(self.n_shards)]
        members = fit_shards(task, shards, "RecEraser")
        ensemble = ShardedRecommender(members, shards, self._new_aggregator(len(shards), members[0].user_embedding.shape[1], task))
        self._fit_aggregator(ensemble, task, train)
        return ensemble

    def _new_aggregator(self, n_shards: int, dim: int, task: RecommendationTask) -> AttentionAggregator:
        aggregator = AttentionAggregator(n_shards, dim, self.attention_dim)
        aggregator.reset_parameters(task.generator)
        return aggregator

    def _fit_aggregator(self, ensemble: ShardedRecommender, task: RecommendationTask, rows: np.ndarray) -> None:
        """Train the aggregator on ``rows`` with the members frozen (their embeddings precomputed)."""
        with torch.no_grad():
            user_stack, item_stack = ensemble.member_embeddings()
        users, items, labels = rows_tensors(task.data, rows)
        aggregator = ensemble.aggregator
        optimizer = torch.optim.Adam(aggregator.parameters(), lr=self.aggregator_lr)
        batch_size = task.train_spec.batch_size
        aggregator.train()
        for _ in range(self.aggregator_epochs):
            order = torch.randperm(len(rows), generator=task.generator)
            for begin in range(0, len(rows), batch_size):
                batch = order[begin : begin + batch_size]
                user_emb = aggregator.combine("user", user_stack[:, users[batch]])
                item_emb = aggregator.combine("item", item_stack[:, items[batch]])
                loss = F.binary_cross_entropy_with_logits((user_emb * item_emb).sum(-1), labels[batch].float())
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
        aggregator.eval()

    def _unlearn(self, model: nn.Module, task: RecommendationTask) -> tuple[nn.Module, dict[str, Any]]:
        ensemble = require_sharded(model, task, "attention", "RecEraser")
        diagnostics = retrain_affected(ensemble, task, "RecEraser")
        dim = ensemble.members[0].user_embedding.shape[1]
        ensemble.aggregator = self._new_aggregator(len(ensemble.members), dim, task)
        self._fit_aggregator(ensemble, task, task.retain)
        return ensemble, {**diagnostics, "aggregator_retrained": True}
