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
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from unlearnkit.models.recsys.graph import propagate


class EmbeddingGaussNewton:
    """v -> G v on the selected embedding rows; ``nodes`` are global node ids (items offset by n_users).

    Given the rows' ``labels`` it is the exact Hessian-vector product instead
    (the residual term (sigmoid(s) - y) d2s added; indefinite in general).

    ``rows`` are (users, items) of the rows whose mean loss defines G, over
    ``graph`` with ``layers`` propagation steps (layers 0: MF, or IFRU's
    ego-embedding Hessian). ``l2`` is the per-row penalty weight of
    :func:`unlearnkit.models.recsys.embedding.row_losses`.
    """

    def __init__(
        self,
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
    ) -> None:
        self.n_users = user_table.shape[0]
        self.n_nodes = self.n_users + item_table.shape[0]
        self.dim = user_table.shape[1]
        self.graph, self.layers = graph, layers
        self.users, self.items = users, items + self.n_users  # node ids of each row's two ends
        self.nodes = nodes
        with torch.no_grad():
            final = propagate(torch.cat([user_table, item_table]).detach(), graph, layers)
            self.user_side = final[self.users]  # e_u of every row
            self.item_side = final[self.items]  # e_i of every row
            prob = torch.sigmoid((self.user_side * self.item_side).sum(-1))
            self.weight = prob * (1 - prob) / n
            # With labels, the exact Hessian: add sum_r (sigmoid(s_r) - y_r)/n * d2 s_r, the term Gauss-Newton drops.
            self.residual = None if labels is None else (prob - labels.to(prob.dtype)) / n
            # Row L2 penalty 0.5 * l2 * (|E_u|^2 + |E_i|^2) per row: diagonal Hessian l2 * rows(node) / n.
            counts = torch.bincount(torch.cat([self.users, self.items]), minlength=self.n_nodes).to(user_table.dtype)
            self.penalty = (l2 * counts / n)[nodes]

    @torch.no_grad()
    def __call__(self, v: torch.Tensor) -> torch.Tensor:
        dtype = self.user_side.dtype
        block = v.view(-1, self.dim)
        full = torch.zeros(self.n_nodes, self.dim, dtype=dtype).index_copy_(0, self.nodes, block)
        moved = propagate(full, self.graph, self.layers)
        jv = (moved[self.users] * self.item_side).sum(-1) + (self.user_side * moved[self.items]).sum(-1)
        w = (self.weight * jv)[:, None]
        scattered = torch.zeros(self.n_nodes, self.dim, dtype=dtype)
        scattered.index_add_(0, self.users, w * self.item_side)
        scattered.index_add_(0, self.items, w * self.user_side)
        if self.residual is not None:
            # v' d2s_r v = 2 <(PV)_u, (PV)_i>, so d2s_r v = P' (scatter (PV)_i at u_r and (PV)_u at i_r).
            c = self.residual[:, None]
            scattered.index_add_(0, self.users, c * moved[self.items])
            scattered.index_add_(0, self.items, c * moved[self.users])
        back = propagate(scattered, self.graph, self.layers)  # P' = P: the normalised adjacency is symmetric
        return (back[self.nodes] + self.penalty[:, None] * block).reshape(-1)

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
        dim, dtype = self.dim, self.user_side.dtype
        blocks = torch.zeros(self.n_nodes, dim, dim, dtype=dtype)
        own = 1.0 / (self.layers + 1) ** 2
        for begin in range(0, self.users.numel(), chunk):
            part = slice(begin, begin + chunk)
            weight = (own * self.weight[part])[:, None, None]
            item_side, user_side = self.item_side[part], self.user_side[part]
            blocks.index_add_(0, self.users[part], weight * item_side[:, :, None] * item_side[:, None, :])
            blocks.index_add_(0, self.items[part], weight * user_side[:, :, None] * user_side[:, None, :])
        selected = blocks[self.nodes]
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
        own = 1.0 / (self.layers + 1) ** 2
        weight = (own * self.weight)[:, None]
        diagonal = torch.zeros(self.n_nodes, self.dim, dtype=self.user_side.dtype)
        diagonal.index_add_(0, self.users, weight * self.item_side.square())
        diagonal.index_add_(0, self.items, weight * self.user_side.square())
        inverse = 1.0 / (diagonal[self.nodes] + (self.penalty + damping)[:, None]).clamp_min(1e-12)
        flat = inverse.reshape(-1)

        def apply(v: torch.Tensor) -> torch.Tensor:
            return v * flat

        return apply
