"""Closed-form Gauss-Newton products for embedding recommenders (MF and LightGCN).

The influence step spends almost all of its time in curvature-vector
products. For score(u, i) = <e_u, e_i> with e = P E, where P = mean over
l = 0..L of A^l (symmetric, since the normalised adjacency A is), the
Jacobian of the scores is known in closed form:

    J v  = <(P V)_u, e_i> + <e_u, (P V)_i>            (V = v scattered into the selected rows)
    J' w = P ( sum_r w_r e_{i_r} at row u_r  +  sum_r w_r e_{u_r} at row i_r )

so G v = (1/n) J' diag(sigmoid'(s)) J v + (Hessian of the row L2 penalty) v
costs two sparse products with P and two scatters over the rows; no autograd
graph is built or kept. It equals ``influence.gauss_newton_product`` (the
``torch.func`` version, tested against explicit Jacobians) and is tested
against it.

The per-row state (:class:`RowCurvature`: propagated embeddings at the rows'
ends, sigmoid'(s), row counts) depends on the rows, the graph and the
embeddings but not on which parameters move, so an influence method builds it
once for the training rows and reuses it for every deletion request. Without
propagation (MF, or IFRU's ego-embedding Hessian) only rows touching the
selected nodes contribute, and the product runs over those rows alone in a
compact index space.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch

from unlearnkit.models.recsys.graph import propagate


@dataclass(frozen=True, eq=False)
class RowCurvature:
    """Per-row state of the curvature of (1/n) sum over ``rows`` of the row loss at fixed embeddings.

    ``users``/``items`` are node ids of each row's two ends (items offset by
    n_users). ``weight`` is sigmoid'(s)/n; ``residual`` (sigmoid(s) - y)/n
    when labels were given (then products are exact Hessian products, the
    term Gauss-Newton drops), else None. ``penalty`` is the diagonal
    Hessian l2 * (rows at the node) / n of the row L2 penalty, per node.
    """

    n_users: int
    n_nodes: int
    dim: int
    graph: torch.Tensor | None
    layers: int
    users: torch.Tensor
    items: torch.Tensor
    user_side: torch.Tensor
    item_side: torch.Tensor
    weight: torch.Tensor
    residual: torch.Tensor | None
    penalty: torch.Tensor

    @classmethod
    @torch.no_grad()
    def build(
        cls,
        user_table: torch.Tensor,
        item_table: torch.Tensor,
        graph: torch.Tensor | None,
        layers: int,
        users: torch.Tensor,
        items: torch.Tensor,
        n: int,
        l2: float,
        labels: torch.Tensor | None = None,
    ) -> RowCurvature:
        """The state for rows (``users``, ``items``: dense ids) over ``graph`` with ``layers`` propagation steps.

        ``n`` divides every row's loss (the size of the set whose mean loss
        is meant, which may exceed the rows given when rows that cannot
        contribute were left out). ``l2`` is the per-row penalty weight of
        :func:`unlearnkit.models.recsys.embedding.row_losses`.
        """
        n_users = user_table.shape[0]
        n_nodes = n_users + item_table.shape[0]
        user_nodes, item_nodes = users, items + n_users
        if layers == 0:
            user_side, item_side = user_table.detach()[users], item_table.detach()[items]
        else:
            final = propagate(torch.cat([user_table, item_table]).detach(), graph, layers)
            user_side, item_side = final[user_nodes], final[item_nodes]
        prob = torch.sigmoid((user_side * item_side).sum(-1))
        counts = torch.bincount(torch.cat([user_nodes, item_nodes]), minlength=n_nodes).to(user_table.dtype)
        return cls(
            n_users, n_nodes, user_table.shape[1], graph, layers, user_nodes, item_nodes, user_side, item_side,
            weight=prob * (1 - prob) / n,
            residual=None if labels is None else (prob - labels.to(prob.dtype)) / n,
            penalty=l2 * counts / n,
        )


class CurvatureProduct(Protocol):
    """What the solvers need of a curvature: the product and two preconditioners."""

    @property
    def n_rows(self) -> int: ...

    def __call__(self, v: torch.Tensor) -> torch.Tensor: ...

    def block_preconditioner(self, damping: float) -> Callable[[torch.Tensor], torch.Tensor]: ...

    def diagonal_preconditioner(self, damping: float) -> Callable[[torch.Tensor], torch.Tensor]: ...


class EmbeddingGaussNewton:
    """v -> G v on the selected embedding rows; ``nodes`` are global node ids (items offset by n_users).

    With labels in ``rows`` it is the exact Hessian-vector product instead
    (the residual term (sigmoid(s) - y) d2s added; indefinite in general).
    Rows that touch none of ``nodes`` contribute nothing without propagation;
    callers may leave them out of ``rows`` (keeping ``n``).
    """

    def __init__(self, rows: RowCurvature, nodes: torch.Tensor) -> None:
        self.rows = rows
        self.nodes = nodes
        self.dim = rows.dim
        # Position of every row end among `nodes`, or len(nodes) (a zero row) when it is not selected.
        position = torch.full((rows.n_nodes,), nodes.numel(), dtype=torch.long)
        position[nodes] = torch.arange(nodes.numel())
        self.user_position = position[rows.users]
        self.item_position = position[rows.items]
        self.penalty = rows.penalty[nodes]

    @property
    def n_rows(self) -> int:
        return int(self.rows.users.numel())

    @classmethod
    def build(
        cls,
        user_table: torch.Tensor,
        item_table: torch.Tensor,
        graph: torch.Tensor | None,
        layers: int,
        users: torch.Tensor,
        items: torch.Tensor,
        n: int,
        l2: float,
        nodes: torch.Tensor,
        labels: torch.Tensor | None = None,
    ) -> EmbeddingGaussNewton:
        return cls(RowCurvature.build(user_table, item_table, graph, layers, users, items, n, l2, labels), nodes)

    @torch.no_grad()
    def __call__(self, v: torch.Tensor) -> torch.Tensor:
        rows = self.rows
        block = v.view(-1, self.dim)
        if rows.layers == 0:
            return self._local_product(block)
        full = torch.zeros(rows.n_nodes, self.dim, dtype=block.dtype).index_copy_(0, self.nodes, block)
        moved = propagate(full, rows.graph, rows.layers)
        moved_user, moved_item = moved[rows.users], moved[rows.items]
        w = (rows.weight * ((moved_user * rows.item_side).sum(-1) + (rows.user_side * moved_item).sum(-1)))[:, None]
        scattered = torch.zeros(rows.n_nodes, self.dim, dtype=block.dtype)
        scattered.index_add_(0, rows.users, w * rows.item_side)
        scattered.index_add_(0, rows.items, w * rows.user_side)
        if rows.residual is not None:
            # v' d2s_r v = 2 <(PV)_u, (PV)_i>, so d2s_r v = P' (scatter (PV)_i at u_r and (PV)_u at i_r).
            c = rows.residual[:, None]
            scattered.index_add_(0, rows.users, c * moved_item)
            scattered.index_add_(0, rows.items, c * moved_user)
        back = propagate(scattered, rows.graph, rows.layers)  # P' = P: the normalised adjacency is symmetric
        return (back[self.nodes] + self.penalty[:, None] * block).reshape(-1)

    def _local_product(self, block: torch.Tensor) -> torch.Tensor:
        """The product without propagation, over the given rows in the compact space of ``nodes`` (+ one zero row)."""
        rows = self.rows
        padded = torch.cat([block, block.new_zeros(1, self.dim)])
        moved_user, moved_item = padded[self.user_position], padded[self.item_position]
        w = (rows.weight * ((moved_user * rows.item_side).sum(-1) + (rows.user_side * moved_item).sum(-1)))[:, None]
        scattered = torch.zeros_like(padded)
        scattered.index_add_(0, self.user_position, w * rows.item_side)
        scattered.index_add_(0, self.item_position, w * rows.user_side)
        if rows.residual is not None:
            c = rows.residual[:, None]
            scattered.index_add_(0, self.user_position, c * moved_item)
            scattered.index_add_(0, self.item_position, c * moved_user)
        return (scattered[:-1] + self.penalty[:, None] * block).reshape(-1)

    @torch.no_grad()
    def block_preconditioner(self, damping: float, chunk: int = 2048) -> Callable[[torch.Tensor], torch.Tensor]:
        """v -> B^-1 v with B the d x d diagonal blocks of the Gauss-Newton matrix, one per selected node.

        Block of node a: (1/n) sum over its rows of sigmoid'(s) c^2 e_other e_other' + (penalty + damping) I,
        c = 1/(L+1) being the weight of a node's own ego embedding in its propagated one (exact for MF;
        the leading term for LightGCN, whose other blocks the conjugate gradient handles). This is what
        one alternating-least-squares step would solve; as a CG preconditioner it removes the spread of
        curvature across users and items of very different degrees. Rows are processed in chunks so
        the per-row outer products never exist all at once.
        """
        rows, dim = self.rows, self.dim
        dtype = rows.user_side.dtype
        blocks = torch.zeros(self.nodes.numel() + 1, dim, dim, dtype=dtype)
        own = 1.0 / (rows.layers + 1) ** 2
        for begin in range(0, rows.users.numel(), chunk):
            part = slice(begin, begin + chunk)
            weight = (own * rows.weight[part])[:, None, None]
            item_side, user_side = rows.item_side[part], rows.user_side[part]
            blocks.index_add_(0, self.user_position[part], weight * item_side[:, :, None] * item_side[:, None, :])
            blocks.index_add_(0, self.item_position[part], weight * user_side[:, :, None] * user_side[:, None, :])
        selected = blocks[:-1]
        diagonal = (self.penalty + damping)[:, None, None] * torch.eye(dim, dtype=dtype)
        factor, info = torch.linalg.cholesky_ex(selected + diagonal)
        if bool((info > 0).any()):
            # A node without penalty or damping and with a rank-deficient block: regularise it slightly.
            scale = selected.diagonal(dim1=-2, dim2=-1).mean(-1).clamp_min(1e-12)
            factor = torch.linalg.cholesky(selected + diagonal + 1e-6 * scale[:, None, None] * torch.eye(dim, dtype=dtype))

        def apply(v: torch.Tensor) -> torch.Tensor:
            return torch.cholesky_solve(v.view(-1, dim, 1), factor).reshape(-1)

        return apply

    @torch.no_grad()
    def diagonal_preconditioner(self, damping: float) -> Callable[[torch.Tensor], torch.Tensor]:
        """v -> v / diag(G): the diagonal of the blocks above (Jacobi), at the cost of one scatter."""
        rows = self.rows
        own = 1.0 / (rows.layers + 1) ** 2
        weight = (own * rows.weight)[:, None]
        diagonal = torch.zeros(self.nodes.numel() + 1, self.dim, dtype=rows.user_side.dtype)
        diagonal.index_add_(0, self.user_position, weight * rows.item_side.square())
        diagonal.index_add_(0, self.item_position, weight * rows.user_side.square())
        inverse = 1.0 / (diagonal[:-1] + (self.penalty + damping)[:, None]).clamp_min(1e-12)
        flat = inverse.reshape(-1)

        def apply(v: torch.Tensor) -> torch.Tensor:
            return v * flat

        return apply


@dataclass(frozen=True, eq=False)
class NodeBlocks:
    """The d x d diagonal blocks of the Gauss-Newton matrix without propagation, for every node.

    Block of node a: (1/n) sum over the rows at a of sigmoid'(s) e_other e_other' (ego embeddings);
    ``penalty`` is the L2 term's l2 * (rows at a) / n. They depend only on the embeddings and the
    rows, so a method builds them once (set-up) and every request reads the blocks of its nodes:
    the curvature of a request's neighbourhood then costs |nodes| d x d products plus the rows
    *between* selected nodes, instead of every row touching them. Float memory: n_nodes d^2.
    """

    blocks: torch.Tensor  # (n_nodes, d, d)
    penalty: torch.Tensor  # (n_nodes,)

    @classmethod
    @torch.no_grad()
    def build(
        cls,
        user_table: torch.Tensor,
        item_table: torch.Tensor,
        node_start: np.ndarray,
        node_others: np.ndarray,
        n: int,
        l2: float,
    ) -> NodeBlocks:
        """From the rows grouped by node (``node_others[node_start[a]:node_start[a + 1]]``: the other ends)."""
        ego = torch.cat([user_table, item_table]).detach()
        n_nodes, dim = ego.shape
        counts = np.diff(node_start)
        owners = torch.as_tensor(np.repeat(np.arange(n_nodes), counts))
        others = torch.as_tensor(node_others)
        root_weight = torch.empty(others.numel(), dtype=ego.dtype)  # sqrt(sigmoid'(s)/n) of every (node, row) pair
        for begin in range(0, others.numel(), 65536):  # chunks: no (pairs, d) temporaries
            part = slice(begin, begin + 65536)
            prob = torch.sigmoid((ego[owners[part]] * ego[others[part]]).sum(-1))
            root_weight[part] = (prob * (1 - prob) / n).sqrt()
        blocks = torch.zeros(n_nodes, dim, dim, dtype=ego.dtype)
        for node in np.flatnonzero(counts):  # one small Gram matrix per node: GEMM speed, no (rows, d, d) tensor
            part = slice(int(node_start[node]), int(node_start[node + 1]))
            scaled = ego[others[part]] * root_weight[part, None]
            blocks[node] = scaled.T @ scaled
        penalty = l2 * torch.as_tensor(counts, dtype=ego.dtype) / n
        return cls(blocks, penalty)


class BlockCurvature:
    """The Gauss-Newton (or Hessian) product on ``nodes`` from :class:`NodeBlocks` plus the rows between them.

    Without propagation, G restricted to the selected nodes is its diagonal
    blocks plus, for every row whose two ends are both selected, the
    coupling sigmoid'(s)/n e_i e_u' (and, with labels, the residual term
    (sigmoid(s) - y)/n I). ``between`` is the :class:`RowCurvature` of those
    rows; the product equals :class:`EmbeddingGaussNewton`'s over every row
    touching the nodes (tested), at a cost independent of the nodes' degrees.
    """

    def __init__(self, blocks: NodeBlocks, between: RowCurvature, nodes: torch.Tensor) -> None:
        self.dim = blocks.blocks.shape[-1]
        self.nodes = nodes
        self.diagonal_blocks = blocks.blocks[nodes]
        self.penalty = blocks.penalty[nodes]
        self.between = between
        position = torch.full((between.n_nodes,), -1, dtype=torch.long)
        position[nodes] = torch.arange(nodes.numel())
        self.user_position = position[between.users]
        self.item_position = position[between.items]
        if bool((self.user_position < 0).any() or (self.item_position < 0).any()):
            raise ValueError("BlockCurvature: every row in 'between' must have both ends among the nodes")

    @property
    def n_rows(self) -> int:
        return int(self.between.users.numel())

    @torch.no_grad()
    def __call__(self, v: torch.Tensor) -> torch.Tensor:
        block = v.view(-1, self.dim)
        out = torch.bmm(self.diagonal_blocks, block[:, :, None]).squeeze(-1) + self.penalty[:, None] * block
        rows = self.between
        v_user, v_item = block[self.user_position], block[self.item_position]
        # J_r v = e_i.v_u + e_u.v_i; the squared terms are in the blocks, the cross terms are:
        out.index_add_(0, self.user_position, (rows.weight * (rows.user_side * v_item).sum(-1))[:, None] * rows.item_side)
        out.index_add_(0, self.item_position, (rows.weight * (rows.item_side * v_user).sum(-1))[:, None] * rows.user_side)
        if rows.residual is not None:  # d2 s_r couples v_u and v_i through the identity
            out.index_add_(0, self.user_position, rows.residual[:, None] * v_item)
            out.index_add_(0, self.item_position, rows.residual[:, None] * v_user)
        return out.reshape(-1)

    @torch.no_grad()
    def block_preconditioner(self, damping: float) -> Callable[[torch.Tensor], torch.Tensor]:
        """v -> B^-1 v with B the nodes' diagonal blocks (+ penalty + damping): an ALS step."""
        eye = torch.eye(self.dim, dtype=self.diagonal_blocks.dtype)
        factor, info = torch.linalg.cholesky_ex(self.diagonal_blocks + (self.penalty + damping)[:, None, None] * eye)
        if bool((info > 0).any()):
            scale = self.diagonal_blocks.diagonal(dim1=-2, dim2=-1).mean(-1).clamp_min(1e-12)
            factor = torch.linalg.cholesky(self.diagonal_blocks + ((self.penalty + damping) + 1e-6 * scale)[:, None, None] * eye)

        def apply(v: torch.Tensor) -> torch.Tensor:
            return torch.cholesky_solve(v.view(-1, self.dim, 1), factor).reshape(-1)

        return apply

    @torch.no_grad()
    def diagonal_preconditioner(self, damping: float) -> Callable[[torch.Tensor], torch.Tensor]:
        """v -> v / diag(G) (Jacobi)."""
        diagonal = self.diagonal_blocks.diagonal(dim1=-2, dim2=-1) + (self.penalty + damping)[:, None]
        flat = (1.0 / diagonal.clamp_min(1e-12)).reshape(-1)

        def apply(v: torch.Tensor) -> torch.Tensor:
            return v * flat

        return apply
