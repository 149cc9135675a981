"""The normalised user-item graph of LightGCN and its propagation, as pure functions.

Nodes are users 0..n_users-1 followed by items n_users..n_users+n_items-1.
The adjacency is built directly as a sparse COO tensor from index arrays and
is never densified ((|U|+|I|)^2 would not fit for ML-1M). COO rather than
CSR because ``torch.func`` transforms (used for Hessian-vector products)
do not support CSR tensors.
"""

from __future__ import annotations

import numpy as np
import torch


def normalized_adjacency(users: np.ndarray, items: np.ndarray, n_users: int, n_items: int) -> torch.Tensor:
    """D^-1/2 A D^-1/2 of the bipartite graph with an edge per distinct (user, item) pair.

    Returns a coalesced sparse (N, N) float32 tensor, N = n_users + n_items;
    isolated nodes have an empty row.
    """
    users = np.asarray(users, dtype=np.int64)
    items = np.asarray(items, dtype=np.int64)
    n = n_users + n_items
    pairs = np.unique(users * n_items + items)
    u, i = pairs // n_items, pairs % n_items + n_users
    degree = np.bincount(u, minlength=n) + np.bincount(i, minlength=n)
    inv_sqrt = np.zeros(n)
    inv_sqrt[degree > 0] = degree[degree > 0] ** -0.5
    weight = inv_sqrt[u] * inv_sqrt[i]
    rows = np.concatenate([u, i])
    cols = np.concatenate([i, u])
    index = torch.as_tensor(np.stack([rows, cols]))
    values = torch.as_tensor(np.concatenate([weight, weight]), dtype=torch.float32)
    return torch.sparse_coo_tensor(index, values, (n, n), check_invariants=True).coalesce()


def propagate(embeddings: torch.Tensor, graph: torch.Tensor | None, layers: int) -> torch.Tensor:
    """LightGCN layer combination: mean over l = 0..layers of graph^l @ embeddings.

    With ``layers == 0`` (matrix factorisation) the ego embeddings are
    returned and ``graph`` may be None.
    """
    if layers == 0:
        return embeddings
    if graph is None:
        raise ValueError(f"propagation over {layers} layer(s) needs a graph; got None")
    total = embeddings
    current = embeddings
    for _ in range(layers):
        current = torch.sparse.mm(graph, current)
        total = total + current
    return total / (layers + 1)


def positive_degrees(users: np.ndarray, items: np.ndarray, n_users: int, n_items: int) -> np.ndarray:
    """Degree of every node (users then items) in the graph of distinct (user, item) pairs."""
    pairs = np.unique(np.asarray(users, dtype=np.int64) * n_items + np.asarray(items, dtype=np.int64))
    n = n_users + n_items
    return np.bincount(pairs // n_items, minlength=n) + np.bincount(pairs % n_items + n_users, minlength=n)
