"""Influence-function unlearning for embedding recommenders (the IFRU operator).

One Newton step on a selected subset of embedding rows theta_S:

    theta_S <- theta_S + (1/n) (H + damping I)^-1 grad[ sum_{D_u} l(z; G)
                                                        + sum_{D_c} (l(z; G) - l(z; G')) ]

with H the Hessian of the mean training loss over D on theta_S, D_u the
forgotten rows, D_c the remaining rows of users/items whose positive degree
changed by more than a ratio (spillover: their loss changes because the
graph G loses the forgotten edges, G' = graph without them), and n = |D|.
This is the direction that minimises the retrained objective to second order.
Curvature-vector products are closed forms (``gauss_newton.py``; the
``torch.func`` version here is their test reference), inverted by the solvers
of :mod:`unlearnkit.methods.curvature` through ``solver.py``: damped
preconditioned conjugate gradient (default), IFRU's Adam on 0.5 p'Hp - g'p
with validation early stopping, or an explicit Hessian (small problems, tests).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch
from sklearn.metrics import roc_auc_score
from torch.func import grad, vjp

from unlearnkit.data.recsys.interactions import InteractionData
from unlearnkit.errors import InvalidParameterError
from unlearnkit.methods.curvature import DampedOperator, conjugate_gradient
from unlearnkit.methods.recsys.gauss_newton import EmbeddingGaussNewton
from unlearnkit.methods.recsys.solver import SolverConfig, make_preconditioner, solve
from unlearnkit.models.recsys.embedding import (
    Recommender,
    graph_of,
    row_losses,
    score_pairs,
)
from unlearnkit.models.recsys.graph import positive_degrees
from unlearnkit.training.recsys import rows_tensors

# --------------------------------------------------------------------------- which parameters move


@dataclass(frozen=True)
class NodeSelection:
    """Users and items whose embedding rows the influence step updates."""

    users: np.ndarray
    items: np.ndarray


def forget_nodes(data: InteractionData, forget: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Nodes (users, then items offset by n_users) touched by the forget rows, with their row counts."""
    nodes = np.concatenate([data.user[forget], data.item[forget] + data.n_users])
    return np.unique(nodes, return_counts=True)


def importance_selection(
    data: InteractionData, train: np.ndarray, forget: np.ndarray, k_hops: int, keep_quantile: float | None
) -> NodeSelection:
    """IFRU's importance pruning (``compute_neighbor_influence_clip``).

    B = 0/1 adjacency of all training pairs (both labels) plus self-loops,
    deg = its row sums. s0(v) = (forget rows at v) / deg(v) on the touched
    nodes; each hop s <- (B s) / deg. Nodes reached after ``k_hops`` hops are
    kept, those with s above the ``keep_quantile`` quantile of the reached
    scores when it is given. Unlike IFRU's LightGCN scripts, the touched
    nodes themselves are always kept: their rows are the ones being removed.
    """
    n = data.n_users + data.n_items
    pairs = np.unique(data.user[train] * data.n_items + data.item[train])
    u, i = pairs // data.n_items, pairs % data.n_items + data.n_users
    ones = np.ones(2 * pairs.size + n)
    rows = np.concatenate([u, i, np.arange(n)])
    cols = np.concatenate([i, u, np.arange(n)])
    adjacency = sp.csr_matrix((ones, (rows, cols)), shape=(n, n))
    degree = np.asarray(adjacency.sum(axis=1)).ravel()
    nodes, counts = forget_nodes(data, forget)
    score = np.zeros(n)
    score[nodes] = counts / degree[nodes]
    for _ in range(k_hops):
        score = adjacency @ score / degree
    keep = score > 0
    if keep_quantile is not None:
        keep = score > np.quantile(score[keep], keep_quantile)
    keep[nodes] = True
    kept = np.flatnonzero(keep)
    return NodeSelection(kept[kept < data.n_users], kept[kept >= data.n_users] - data.n_users)


def spillover_rows(data: InteractionData, train: np.ndarray, forget: np.ndarray, ratio: float) -> np.ndarray:
    """D_c: remaining rows of touched users/items whose positive degree drops by more than ``ratio``.

    Their loss depends on the graph, which loses the forgotten positive
    edges; IFRU adds the change of their loss to the removal gradient.
    """
    retain = np.setdiff1d(train, forget)
    before = data.positives(train)
    after = data.positives(retain)
    degree = positive_degrees(data.user[before], data.item[before], data.n_users, data.n_items)
    degree_after = positive_degrees(data.user[after], data.item[after], data.n_users, data.n_items)
    nodes, _ = forget_nodes(data, forget)
    nodes = nodes[degree[nodes] > 0]
    changed = nodes[1.0 - degree_after[nodes] / degree[nodes] > ratio]
    mask = np.zeros(data.n_users + data.n_items, dtype=bool)
    mask[changed] = True
    return retain[mask[data.user[retain]] | mask[data.item[retain] + data.n_users]]


# --------------------------------------------------------------------------- the objective on theta_S


class SubsetObjective:
    """Losses of the model as functions of the selected embedding rows only (pure, for torch.func)."""

    def __init__(self, model: Recommender, selection: NodeSelection, l2: float) -> None:
        self.users = model.user_embedding.detach().clone()
        self.items = model.item_embedding.detach().clone()
        self.user_index = torch.as_tensor(selection.users, dtype=torch.long)
        self.item_index = torch.as_tensor(selection.items, dtype=torch.long)
        self.dim = self.users.shape[1]
        self.split_at = len(selection.users) * self.dim
        self.l2 = l2
        self.layers = model.layers
        self.theta0 = torch.cat([self.users[self.user_index].reshape(-1), self.items[self.item_index].reshape(-1)])

    def tables(self, theta: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        users = self.users.index_copy(0, self.user_index, theta[: self.split_at].view(-1, self.dim))
        items = self.items.index_copy(0, self.item_index, theta[self.split_at :].view(-1, self.dim))
        return users, items

    def loss_sum(
        self, theta: torch.Tensor, rows: tuple[torch.Tensor, ...], graph: torch.Tensor | None, layers: int
    ) -> torch.Tensor:
        users, items = self.tables(theta)
        return row_losses(users, items, graph, layers, *rows, self.l2).sum()

    def scores(self, theta: torch.Tensor, rows: tuple[torch.Tensor, ...], graph: torch.Tensor | None, layers: int) -> torch.Tensor:
        users, items = self.tables(theta)
        return score_pairs(users, items, graph, layers, rows[0], rows[1])

    def penalty_sum(self, theta: torch.Tensor, rows: tuple[torch.Tensor, ...]) -> torch.Tensor:
        users, items = self.tables(theta)
        return 0.5 * self.l2 * (users[rows[0]].pow(2).sum() + items[rows[1]].pow(2).sum())

    def write(self, model: Recommender, theta: torch.Tensor) -> None:
        users, items = self.tables(theta.detach())
        with torch.no_grad():
            model.user_embedding.copy_(users)
            model.item_embedding.copy_(items)


def gauss_newton_product(
    objective: SubsetObjective,
    theta0: torch.Tensor,
    rows: tuple[torch.Tensor, ...],
    graph: torch.Tensor | None,
    layers: int,
    n: int,
) -> Callable[[torch.Tensor], torch.Tensor]:
    """v -> G v for the generalised Gauss-Newton matrix of the mean loss (positive semi-definite).

    G = (1/n) J' diag(sigmoid'(s)) J + Hessian of the (quadratic) L2 term,
    J the Jacobian of the training scores. It drops the indefinite
    (sigmoid(s) - y) * d2s term of the Hessian, so damped CG always
    converges. J v comes from differentiating v -> J'u in u (double reverse
    mode: forward mode has no sparse matmul).
    """
    scores, pullback = vjp(lambda t: objective.scores(t, rows, graph, layers), theta0)
    prob = torch.sigmoid(scores.detach())
    weight = prob * (1 - prob) / n
    _, jacobian_product = vjp(lambda u: pullback(u)[0], torch.zeros_like(scores))
    _, penalty_hvp = vjp(grad(lambda t: objective.penalty_sum(t, rows) / n), theta0)

    def product(v: torch.Tensor) -> torch.Tensor:
        jv = jacobian_product(v)[0]
        return pullback(weight * jv)[0] + penalty_hvp(v)[0]

    return product


# --------------------------------------------------------------------------- the operator


def validation_scorer(
    objective: SubsetObjective, data: InteractionData, validation: np.ndarray, graph: torch.Tensor | None, layers: int
) -> Callable[[torch.Tensor], float]:
    """update -> validation AUC of theta0 + update over the retained graph (IFRU's early-stopping score)."""
    users, items, labels = rows_tensors(data, validation)
    if labels.unique().numel() < 2:
        raise InvalidParameterError("solver='adam' early-stops on validation AUC and needs both labels in validation")
    truth = labels.numpy()

    def score(update: torch.Tensor) -> float:
        with torch.no_grad():
            user_table, item_table = objective.tables(objective.theta0 + update)
            logits = score_pairs(user_table, item_table, graph, layers, users, items)
        return float(roc_auc_score(truth, logits.numpy()))

    return score


def _newton_refinement(
    objective: SubsetObjective,
    theta0: torch.Tensor,
    theta: torch.Tensor,
    train_rows: tuple[torch.Tensor, ...],
    retain_rows: tuple[torch.Tensor, ...],
    old_graph: torch.Tensor | None,
    new_graph: torch.Tensor | None,
    layers: int,
    hessian_layers: int,
    n: int,
    l2: float,
    nodes: torch.Tensor,
    solver: SolverConfig,
    steps: int,
) -> tuple[torch.Tensor, list[dict[str, float]]]:
    """Further Newton steps on F(theta) = (1/n) grad sum_retain l(theta; G') - r_0 (see ``influence_update``)."""
    anchor = grad(lambda t: objective.loss_sum(t, train_rows, old_graph, layers) / n)(theta0).detach()
    hessian_graph = new_graph if hessian_layers > 0 else None
    # Nodes without a retained row (e.g. every row of a deleted user) have no equation in F: their
    # curvature would be the damping alone and the step anchor/damping. They keep the first step's value.
    n_users = objective.users.shape[0]
    touched = torch.zeros(n_users + objective.items.shape[0], dtype=torch.bool)
    touched[retain_rows[0]] = True
    touched[retain_rows[1] + n_users] = True
    constrained = touched[nodes].repeat_interleave(objective.dim).to(theta.dtype)
    log = []
    for _ in range(steps):
        residual = grad(lambda t: objective.loss_sum(t, retain_rows, new_graph, layers) / n)(theta).detach() - anchor
        residual = residual * constrained
        users, items = objective.tables(theta)
        product = EmbeddingGaussNewton(
            users, items, hessian_graph, hessian_layers, retain_rows[0], retain_rows[1], n, l2, nodes,
            labels=retain_rows[2] if solver.curvature == "hessian" else None,
        )
        result = conjugate_gradient(
            DampedOperator(product, solver.damping), -residual,
            tol=solver.cg.tol, max_iter=solver.cg.max_iter, preconditioner=make_preconditioner(product, solver),
        )
        if not torch.isfinite(result.x).all():
            raise FloatingPointError("a Newton refinement step produced non-finite values; raise the damping")
        theta = theta + result.x * constrained
        log.append({"residual_norm": float(residual.norm()), "cg_iterations": result.iterations, "negative_curvature": result.truncated})
    return theta, log


def influence_update(
    model: Recommender,
    data: InteractionData,
    train: np.ndarray,
    forget: np.ndarray,
    validation: np.ndarray,
    *,
    l2: float,
    k_hops: int,
    keep_quantile: float | None,
    spillover: bool,
    degree_change_ratio: float,
    faithful: bool,
    hessian_on: str,
    solver: SolverConfig,
    newton_steps: int = 1,
) -> dict[str, Any]:
    """Apply the influence step to ``model`` in place; it ends conditioned on the retained graph.

    ``newton_steps`` > 1 (CG only) continues with Newton steps on the removal
    equation F(theta) = (1/n) sum_{D minus D_u} grad l(theta; G') - r_0 = 0,
    r_0 = (1/n) sum_D grad l(theta_0; G) being the original's own training
    gradient, held fixed (non-zero when the original was early-stopped). At
    theta_0, -F is exactly the removal gradient with spillover over every
    retained row, so the first step is IFRU's; later steps use the curvature
    of the retained rows over the new graph at the current point and correct
    the linearisation error of the single step.
    """
    start = time.perf_counter()
    retain = np.setdiff1d(train, forget)
    n = int(train.size)
    dtype = model.user_embedding.dtype
    # The model's own graph is the old graph G_D (it was trained on ``train``); no need to rebuild it.
    old_graph = (model.graph if model.graph is not None else graph_of(data, train, dtype)) if model.layers > 0 else None
    new_graph = graph_of(data, retain, dtype) if model.layers > 0 else None
    selection = importance_selection(data, train, forget, k_hops, keep_quantile)
    changed = (
        spillover_rows(data, train, forget, degree_change_ratio)
        if spillover and model.layers > 0
        else np.zeros(0, dtype=np.int64)
    )
    objective = SubsetObjective(model, selection, l2)
    train_rows = rows_tensors(data, train)
    forget_rows = rows_tensors(data, forget)
    changed_rows = rows_tensors(data, changed)
    # IFRU's Hessian is over all training rows and the old graph; "retain" makes the
    # step one exact Newton step on the retrained objective (rows D minus D_u, new graph).
    hessian_rows, hessian_graph = (train_rows, old_graph) if hessian_on == "train" else (rows_tensors(data, retain), new_graph)
    n_hessian = n if hessian_on == "train" else int(retain.size)
    # IFRU's faithful mode builds the Hessian on ego embeddings (no propagation).
    hessian_layers = 0 if faithful else model.layers
    if faithful:
        hessian_graph = None

    def removal_loss(theta: torch.Tensor) -> torch.Tensor:
        total = objective.loss_sum(theta, forget_rows, old_graph, model.layers)
        if changed.size:
            total = total + objective.loss_sum(theta, changed_rows, old_graph, model.layers)
            total = total - objective.loss_sum(theta, changed_rows, new_graph, model.layers)
        return total

    theta0 = objective.theta0
    g_sum = grad(removal_loss)(theta0).detach()
    # Closed forms (gauss_newton.py): no autograd graph, a few sparse products per call. With the
    # rows' labels it is the exact Hessian; without, the Gauss-Newton matrix.
    nodes = torch.cat([objective.user_index, objective.item_index + model.n_users])
    curvature_product = EmbeddingGaussNewton(
        objective.users, objective.items, hessian_graph, hessian_layers, hessian_rows[0], hessian_rows[1],
        n_hessian, l2, nodes, labels=hessian_rows[2] if solver.curvature == "hessian" else None,
    )

    setup_seconds = time.perf_counter() - start
    b = g_sum / n_hessian
    validation_auc = validation_scorer(objective, data, validation, new_graph, model.layers) if solver.kind == "adam" else None
    delta, details = solve(curvature_product, b, solver, validation_auc)
    applied = DampedOperator(curvature_product, solver.damping)(delta)
    b_norm = float(b.norm())
    residual = float((applied - b).norm()) / b_norm if b_norm > 0 else 0.0
    if not torch.isfinite(delta).all():
        raise FloatingPointError(f"the influence solve ({solver.kind}) produced non-finite values; raise the damping")
    theta = theta0 + delta
    if newton_steps > 1:
        theta, details["newton"] = _newton_refinement(
            objective, theta0, theta, train_rows, rows_tensors(data, retain), old_graph, new_graph, model.layers,
            hessian_layers, n, l2, nodes, solver, newton_steps - 1,
        )
        delta = theta - theta0
    objective.write(model, theta)
    model.graph = new_graph
    n_total = (model.n_users + model.n_items) * objective.dim
    return {
        **details,
        "solver": solver.kind,
        "relative_residual": residual,
        "removal_gradient_norm": float(g_sum.norm()),
        "update_norm": float(delta.norm()),
        "n_forget_rows": int(forget.size),
        "n_spillover_rows": int(changed.size),
        "n_users_updated": int(selection.users.size),
        "n_items_updated": int(selection.items.size),
        "n_parameters_kept": int(theta0.numel()),
        "n_parameters_pruned": int(n_total - theta0.numel()),
        "setup_seconds": setup_seconds,
        "solve_seconds": time.perf_counter() - start - setup_seconds,
    }
