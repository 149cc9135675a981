"""The normalised user-item graph of LightGCN and its propagation, as pure functions.

Nodes are users 0..n_users-1 followed by items n_users..n_users+n_items-1.
The adjacency is built directly as a sparse COO tensor from index arrays and
is never densified ((|U|+|I|)^2 would not fit for ML-1M). COO rather than
CSR because ``torch.func`` transforms (used for Hessian-vector products)
do not support CSR tensors.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
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


def without_edges(graph: torch.Tensor, users: np.ndarray, items: np.ndarray, n_users: int) -> torch.Tensor:
    """``graph`` (a :func:`normalized_adjacency`) after removing the edges (users[k], items[k]), renormalised.

    Equal to :func:`normalized_adjacency` of the remaining pairs, at the cost
    of a pass over the non-zeros instead of a rebuild (no sort): degrees come
    from the graph's own pattern, and the edges are located by binary search
    in its coalesced (row-major sorted) index. Pairs that are not edges are
    ignored.
    """
    n = graph.shape[0]
    index = graph.coalesce().indices().numpy()
    keys = index[0] * n + index[1]
    users = np.asarray(users, dtype=np.int64)
    nodes = np.asarray(items, dtype=np.int64) + n_users
    lost = np.concatenate([users * n + nodes, nodes * n + users])
    position = np.searchsorted(keys, lost)
    position = position[(position < keys.size) & (keys[np.minimum(position, keys.size - 1)] == lost)]
    keep = np.ones(keys.size, dtype=bool)
    keep[position] = False
    rows, cols = index[0][keep], index[1][keep]
    degree = np.bincount(rows, minlength=n)
    inv_sqrt = np.zeros(n)
    inv_sqrt[degree > 0] = degree[degree > 0] ** -0.5
    values = torch.as_tensor(inv_sqrt[rows] * inv_sqrt[cols], dtype=graph.dtype)
    # A subset of a coalesced index in its order is coalesced and in bounds; checking would cost another pass.
    return torch.sparse_coo_tensor(
        torch.as_tensor(np.stack([rows, cols])), values, (n, n), is_coalesced=True, check_invariants=False
    )


def to_scipy(graph: torch.Tensor) -> sp.csr_matrix:
    """The (coalesced COO) graph as a SciPy CSR matrix, for fast row slicing."""
    graph = graph.coalesce()
    index = graph.indices().numpy()
    return sp.csr_matrix((graph.values().double().numpy(), (index[0], index[1])), shape=tuple(graph.shape))


class LocalPropagation:
    """Propagated embeddings of a few ``targets`` from their ``layers``-hop neighbourhood only.

    With B_0 = targets and B_j = B_{j-1} plus its neighbours, layer l of the
    propagation is needed on B_{L-l} and is computed as
    A[B_{L-l}, B_{L-l+1}] times layer l-1 on B_{L-l+1}: the same numbers as
    :func:`propagate` restricted to the targets, at a cost proportional to
    the neighbourhood's edges rather than to the graph's. ``nodes`` (= B_L)
    are the ego-embedding rows it reads; calling it with ``embeddings[nodes]``
    returns the targets' propagated embeddings (differentiable, also under
    ``torch.func`` transforms).
    """

    def __init__(self, graph: sp.csr_matrix, targets: np.ndarray, layers: int, dtype: torch.dtype) -> None:
        self.targets = np.unique(np.asarray(targets, dtype=np.int64))
        self.layers = layers
        levels = [self.targets]
        for _ in range(layers):
            rows = graph[levels[-1]]
            levels.append(np.union1d(levels[-1], rows.indices))
        self.nodes = levels[-1]
        # blocks[l - 1]: A[B_{L-l}, B_{L-l+1}] in local indices, for l = 1..L
        self.blocks = []
        for level in range(layers, 0, -1):
            rows, cols = levels[level - 1], levels[level]
            block = graph[rows][:, cols].tocoo()
            index = torch.as_tensor(np.stack([block.row, block.col]).astype(np.int64))
            values = torch.as_tensor(block.data, dtype=dtype)
            self.blocks.append(torch.sparse_coo_tensor(index, values, block.shape, check_invariants=True).coalesce())
        # where the targets sit in every level B_{L-l}, l = 0..L
        self.target_positions = [
            torch.as_tensor(np.searchsorted(levels[layers - depth], self.targets)) for depth in range(layers + 1)
        ]

    def __call__(self, ego: torch.Tensor) -> torch.Tensor:
        current = ego
        total = current[self.target_positions[0]]
        for depth, block in enumerate(self.blocks, start=1):
            current = torch.sparse.mm(block, current)
            total = total + current[self.target_positions[depth]]
        return total / (self.layers + 1)

    def positions(self, nodes: np.ndarray) -> torch.Tensor:
        """Positions of ``nodes`` (each one of the targets) in the output."""
        return torch.as_tensor(np.searchsorted(self.targets, nodes))
