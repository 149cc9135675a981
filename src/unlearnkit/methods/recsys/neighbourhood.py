"""Which embedding rows an influence step moves, and which training rows matter for it.

:class:`TrainingIndex` holds what depends only on the training rows (the
0/1 adjacency with self-loops behind IFRU's importance scores, the training
rows of every node, positive degrees). An influence method builds it once
per task and model, reports that time as set-up, and answers each deletion
request from it with work proportional to the request's neighbourhood
rather than to the whole training set.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from unlearnkit.data.recsys.interactions import InteractionData
from unlearnkit.models.recsys.graph import positive_degrees


@dataclass(frozen=True)
class NodeSelection:
    """Users and items whose embedding rows the influence step updates."""

    users: np.ndarray
    items: np.ndarray


def forget_nodes(data: InteractionData, forget: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Nodes (users, then items offset by n_users) touched by the forget rows, with their row counts."""
    nodes = np.concatenate([data.user[forget], data.item[forget] + data.n_users])
    return np.unique(nodes, return_counts=True)


def _pair_keys(data: InteractionData, rows: np.ndarray) -> np.ndarray:
    keys: np.ndarray = data.user[rows] * data.n_items + data.item[rows]
    return keys


@dataclass(frozen=True, eq=False)
class TrainingIndex:
    """Request-independent structures over the training rows ``train`` of ``data``.

    ``adjacency`` is IFRU's B: 0/1 over distinct training pairs (both
    labels) plus self-loops, ``degree`` its row sums. ``node_rows[
    node_start[v]:node_start[v + 1]]`` are the training rows at node v
    (a user, or an item offset by n_users) and ``node_others`` the node at
    each such row's other end. ``positive_degree`` counts the distinct
    positive pairs at every node (the graph's degrees).
    """

    data: InteractionData
    train: np.ndarray
    adjacency: sp.csr_matrix
    degree: np.ndarray
    node_start: np.ndarray
    node_rows: np.ndarray
    node_others: np.ndarray
    positive_degree: np.ndarray

    @classmethod
    def build(cls, data: InteractionData, train: np.ndarray) -> TrainingIndex:
        train = np.asarray(train, dtype=np.int64)
        n = data.n_users + data.n_items
        pairs = np.unique(_pair_keys(data, train))
        u, i = pairs // data.n_items, pairs % data.n_items + data.n_users
        ones = np.ones(2 * pairs.size + n)
        adjacency = sp.csr_matrix(
            (ones, (np.concatenate([u, i, np.arange(n)]), np.concatenate([i, u, np.arange(n)]))), shape=(n, n)
        )
        degree = np.asarray(adjacency.sum(axis=1)).ravel()
        ends = np.concatenate([data.user[train], data.item[train] + data.n_users])
        order = np.argsort(ends, kind="stable")
        node_rows = np.concatenate([train, train])[order]
        node_others = np.concatenate([data.item[train] + data.n_users, data.user[train]])[order]
        node_start = np.concatenate([[0], np.cumsum(np.bincount(ends, minlength=n))])
        positive = data.positives(train)
        positive_degree = positive_degrees(data.user[positive], data.item[positive], data.n_users, data.n_items)
        return cls(data, train, adjacency, degree, node_start, node_rows, node_others, positive_degree)

    def row_counts(self, nodes: np.ndarray) -> np.ndarray:
        """Number of training rows at each node."""
        counts: np.ndarray = self.node_start[nodes + 1] - self.node_start[nodes]
        return counts

    def rows_touching(self, nodes: np.ndarray) -> np.ndarray:
        """Sorted training rows whose user or item is one of ``nodes``."""
        nodes = np.asarray(nodes, dtype=np.int64)
        starts, counts = self.node_start[nodes], self.row_counts(nodes)
        total = int(counts.sum())
        if total == 0:
            return np.zeros(0, dtype=np.int64)
        # Positions start_k, start_k + 1, ..., start_k + count_k - 1 of every node, without a Python loop.
        offsets = np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts)
        return np.unique(self.node_rows[np.repeat(starts, counts) + offsets])

    def importance_selection(self, forget: np.ndarray, k_hops: int, keep_quantile: float | None) -> NodeSelection:
        """IFRU's importance pruning (``compute_neighbor_influence_clip``).

        s0(v) = (forget rows at v) / deg(v) on the touched nodes; each hop
        s <- (B s) / deg. Nodes reached after ``k_hops`` hops are kept, those
        with s above the ``keep_quantile`` quantile of the reached scores
        when it is given. Unlike IFRU's LightGCN scripts, the touched nodes
        themselves are always kept: their rows are the ones being removed.
        """
        data = self.data
        nodes, counts = forget_nodes(data, forget)
        if k_hops == 0:  # the reached nodes are the touched ones, which are always kept
            kept = nodes
        else:
            score = np.zeros(data.n_users + data.n_items)
            score[nodes] = counts / self.degree[nodes]
            for _ in range(k_hops):
                score = self.adjacency @ score / self.degree
            keep = score > 0
            if keep_quantile is not None:
                keep = score > np.quantile(score[keep], keep_quantile)
            keep[nodes] = True
            kept = np.flatnonzero(keep)
        return NodeSelection(kept[kept < data.n_users], kept[kept >= data.n_users] - data.n_users)

    def orphans(self, forget: np.ndarray) -> np.ndarray:
        """Touched nodes left without any training row once ``forget`` is removed (e.g. a deleted user)."""
        nodes, counts = forget_nodes(self.data, forget)
        orphaned: np.ndarray = nodes[self.row_counts(nodes) == counts]
        return orphaned

    def lost_edges(self, forget: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(users, items) of the graph edges that removing ``forget`` deletes.

        A forgotten positive pair removes an edge only if no retained
        positive row repeats it; the search covers the rows at the forget
        rows' users only.
        """
        data = self.data
        users = np.unique(data.user[forget])
        near = np.setdiff1d(self.rows_touching(users), forget)
        lost = np.setdiff1d(np.unique(_pair_keys(data, data.positives(forget))), _pair_keys(data, data.positives(near)))
        return lost // data.n_items, lost % data.n_items

    def spillover_rows(self, forget: np.ndarray, ratio: float) -> np.ndarray:
        """D_c: remaining rows of touched users/items whose positive degree drops by more than ``ratio``.

        Their loss depends on the graph, which loses the forgotten positive
        edges; IFRU adds the change of their loss to the removal gradient.
        """
        data = self.data
        nodes, _ = forget_nodes(data, forget)
        nodes = nodes[self.positive_degree[nodes] > 0]
        lost_users, lost_items = self.lost_edges(forget)
        lost_ends = np.concatenate([lost_users, lost_items + data.n_users])
        degree_after = self.positive_degree - np.bincount(lost_ends, minlength=self.positive_degree.size)
        changed = nodes[1.0 - degree_after[nodes] / self.positive_degree[nodes] > ratio]
        return np.setdiff1d(self.rows_touching(changed), forget)
