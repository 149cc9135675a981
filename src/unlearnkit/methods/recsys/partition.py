"""Balanced partitions of interactions into shards (RecEraser's interaction-based partition)."""

from __future__ import annotations

import math

import numpy as np
import torch


def balanced_assign(distance: np.ndarray, capacity: int) -> np.ndarray:
    """Assign every row to a column (shard) with at most ``capacity`` rows per shard.

    Rounds of proposals: each unassigned row proposes to its nearest shard
    not yet refusing it; each shard accepts the nearest proposers up to its
    remaining capacity. A vectorised counterpart of RecEraser's greedy pass
    over sorted (row, shard) distances; it terminates because total capacity
    covers every row.
    """
    n, k = distance.shape
    if capacity * k < n:
        raise ValueError(f"{k} shards of capacity {capacity} cannot hold {n} rows")
    preference = np.argsort(distance, axis=1, kind="stable")
    pointer = np.zeros(n, dtype=np.int64)
    assign = np.full(n, -1, dtype=np.int64)
    remaining = np.full(k, capacity, dtype=np.int64)
    while (assign < 0).any():
        pending = np.flatnonzero(assign < 0)
        choice = preference[pending, pointer[pending]]
        order = np.lexsort((distance[pending, choice], choice))
        pending, choice = pending[order], choice[order]
        rank = np.arange(choice.size) - np.searchsorted(choice, choice, side="left")
        accept = rank < remaining[choice]
        assign[pending[accept]] = choice[accept]
        remaining -= np.bincount(choice[accept], minlength=k)
        pointer[pending[~accept]] += 1
    return assign


def interaction_partition(
    user_vectors: torch.Tensor,
    item_vectors: torch.Tensor,
    n_shards: int,
    iterations: int,
    capacity_factor: float,
    generator: torch.Generator,
) -> np.ndarray:
    """Shard of every interaction by balanced k-means on (user, item) embedding pairs.

    Each shard has a user centroid and an item centroid, initialised from
    random interactions; the distance of (u, i) to shard k is
    |e_u - c_u^k|^2 * |e_i - c_i^k|^2 (RecEraser's interaction-based score),
    shards hold at most ``capacity_factor * n / n_shards`` rows, and
    centroids are the means of their rows' embeddings.
    """
    n = user_vectors.shape[0]
    if n_shards > n:
        raise ValueError(f"cannot split {n} interactions into {n_shards} shards")
    capacity = math.ceil(capacity_factor * n / n_shards)
    anchors = torch.randperm(n, generator=generator)[:n_shards]
    user_centres, item_centres = user_vectors[anchors].clone(), item_vectors[anchors].clone()
    assign = np.zeros(n, dtype=np.int64)
    for _ in range(iterations):
        distance = torch.cdist(user_vectors, user_centres).pow(2) * torch.cdist(item_vectors, item_centres).pow(2)
        assign = balanced_assign(distance.double().numpy(), capacity)
        index = torch.as_tensor(assign)
        counts = torch.bincount(index, minlength=n_shards).to(user_vectors.dtype)
        filled = counts > 0
        user_sum = torch.zeros_like(user_centres).index_add_(0, index, user_vectors)
        item_sum = torch.zeros_like(item_centres).index_add_(0, index, item_vectors)
        user_centres[filled] = user_sum[filled] / counts[filled, None]
        item_centres[filled] = item_sum[filled] / counts[filled, None]
    empty = sorted(set(range(n_shards)) - set(assign.tolist()))
    if empty:
        raise ValueError(f"balanced partition left shards {empty} empty; lower capacity_factor or n_shards")
    return assign
