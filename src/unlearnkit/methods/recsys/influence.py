"""Influence-function unlearning for embedding recommenders (the IFRU operator).

One Newton step on a selected subset of embedding rows theta_S:

    theta_S <- theta_S + (1/n) (H + damping I)^-1 grad[ sum_{D_u} l(z; G)
                                                        + sum_{D_c} (l(z; G) - l(z; G')) ]

with H the Hessian of the mean training loss over D on theta_S, D_u the
forgotten rows, D_c the remaining rows of users/items whose positive degree
changed by more than a ratio (spillover: their loss changes because the
graph G loses the forgotten edges, G' = graph without them), and n = |D|.
This is the direction that minimises the retrained objective to second order.
Hessian-vector products come from ``torch.func`` (reverse-over-reverse: the
forward mode has no sparse matmul), solved by damped conjugate gradient
(default), IFRU's Adam on 0.5 p'Hp - g'p with validation early stopping, or
an explicit Hessian (small problems, tests).
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
from unlearnkit.models.recsys.embedding import (
    Recommender,
    graph_of,
    row_losses,
    score_pairs,
)
from unlearnkit.models.recsys.graph import positive_degrees
from unlearnkit.training.recsys import rows_tensors

EXACT_SOLVER_MAX_PARAMETERS = 5000


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


# --------------------------------------------------------------------------- solvers


@dataclass(frozen=True)
class SolverConfig:
    kind: str  # "cg", "adam" or "exact"
    curvature: str  # "hessian" or "gauss_newton"
    damping: float
    cg_tol: float
    cg_max_iter: int
    adam_lr: float
    adam_steps: int
    adam_patience: int


def conjugate_gradient(
    apply: Callable[[torch.Tensor], torch.Tensor], b: torch.Tensor, tol: float, max_iter: int
) -> tuple[torch.Tensor, int, bool]:
    """x with apply(x) ~= b (relative residual ``tol``) by conjugate gradient, truncated at negative curvature.

    The Hessian of an early-stopped BCE recommender is often indefinite; plain
    CG then diverges. Like Newton-CG (Steihaug), the iteration stops before a
    search direction p with p'Ap <= 0 and returns the iterate so far, which
    still decreases the quadratic model. Returns (x, iterations, stopped at
    negative curvature). SciPy's ``cg`` has no such test, hence this loop.
    """
    x = torch.zeros_like(b)
    residual = b.clone()
    direction = residual.clone()
    squared = residual.dot(residual)
    threshold = tol * float(squared.sqrt())
    if threshold == 0.0:
        return x, 0, False
    for iteration in range(1, max_iter + 1):
        product = apply(direction)
        curvature = direction.dot(product)
        if curvature <= 0:
            return x, iteration - 1, True
        step = squared / curvature
        x = x + step * direction
        residual = residual - step * product
        new_squared = residual.dot(residual)
        if float(new_squared.sqrt()) <= threshold:
            return x, iteration, False
        direction = residual + (new_squared / squared) * direction
        squared = new_squared
    return x, max_iter, False


def solve_adam(
    hvp: Callable[[torch.Tensor], torch.Tensor],
    b: torch.Tensor,
    config: SolverConfig,
    validation_auc: Callable[[torch.Tensor], float],
) -> tuple[torch.Tensor, dict[str, Any]]:
    """IFRU's solver: Adam on q(x) = 0.5 x'Hx - b'x (gradient Hx - b), x being the update itself.

    IFRU optimises p = n x with gradient Hp - n b and learning rate
    ``if_lr``; Adam is invariant to the gradient's scale, so this is the
    same trajectory with ``adam_lr = if_lr / n`` -- a step size on the
    parameters' own scale, which transfers across dataset sizes. After every
    step the update is scored on validation AUC; the best one (possibly no
    update at all) is returned, stopping after ``adam_patience`` steps
    without improvement. Starts from x = 0 (IFRU's ``if_init_std`` 0).
    """
    x = torch.zeros_like(b, requires_grad=True)
    optimizer = torch.optim.Adam([x], lr=config.adam_lr)
    best_auc, best_step, best = validation_auc(torch.zeros_like(b)), 0, torch.zeros_like(b)
    stale, steps = 0, 0
    for step in range(1, config.adam_steps + 1):
        with torch.no_grad():
            x.grad = hvp(x.detach()) - b
        optimizer.step()
        steps = step
        auc = validation_auc(x.detach())
        if auc > best_auc:
            best_auc, best_step, best, stale = auc, step, x.detach().clone(), 0
        else:
            stale += 1
            if stale >= config.adam_patience:
                break
    return best, {"solver_iterations": steps, "adam_best_step": best_step, "adam_best_validation_auc": best_auc}


# --------------------------------------------------------------------------- the operator


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
) -> dict[str, Any]:
    """Apply the influence step to ``model`` in place; it ends conditioned on the retained graph."""
    start = time.perf_counter()
    retain = np.setdiff1d(train, forget)
    n = int(train.size)
    dtype = model.user_embedding.dtype
    old_graph = graph_of(data, train, dtype) if model.layers > 0 else None
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

    def mean_loss(theta: torch.Tensor) -> torch.Tensor:
        return objective.loss_sum(theta, hessian_rows, hessian_graph, hessian_layers) / n_hessian

    def removal_loss(theta: torch.Tensor) -> torch.Tensor:
        total = objective.loss_sum(theta, forget_rows, old_graph, model.layers)
        if changed.size:
            total = total + objective.loss_sum(theta, changed_rows, old_graph, model.layers)
            total = total - objective.loss_sum(theta, changed_rows, new_graph, model.layers)
        return total

    theta0 = objective.theta0
    g_sum = grad(removal_loss)(theta0).detach()
    train_gradient = grad(mean_loss)(theta0).detach()
    if solver.curvature == "hessian":
        _, hvp_raw = vjp(grad(mean_loss), theta0)

        def curvature_product(v: torch.Tensor) -> torch.Tensor:
            return hvp_raw(v)[0]
    else:
        curvature_product = gauss_newton_product(objective, theta0, hessian_rows, hessian_graph, hessian_layers, n_hessian)

    def hvp(v: torch.Tensor) -> torch.Tensor:
        return curvature_product(v).detach() + solver.damping * v

    setup_seconds = time.perf_counter() - start
    b = g_sum / n_hessian
    details: dict[str, Any] = {}
    if solver.kind == "cg":
        delta, iterations, negative = conjugate_gradient(hvp, b, solver.cg_tol, solver.cg_max_iter)
        details["solver_iterations"] = iterations
        details["negative_curvature"] = negative
    elif solver.kind == "exact":
        if theta0.numel() > EXACT_SOLVER_MAX_PARAMETERS:
            raise InvalidParameterError(
                f"solver='exact' builds the full Hessian and allows at most {EXACT_SOLVER_MAX_PARAMETERS} "
                f"parameters; this request selects {theta0.numel()} (use solver='cg')"
            )
        # Column by column from the same (damped) product: forward-mode AD, which
        # torch.func.hessian uses, has no sparse matmul.
        matrix = torch.stack([hvp(column) for column in torch.eye(theta0.numel(), dtype=b.dtype)], dim=1)
        # Pseudo-inverse: MF's loss is invariant under rotations of the embeddings, so
        # the undamped Hessian is singular; b has no component along those directions.
        matrix = matrix.double()
        delta = (torch.linalg.pinv(0.5 * (matrix + matrix.T), hermitian=True, rtol=1e-6) @ b.double()).to(b.dtype)
        details["solver_iterations"] = 1
    else:
        model.graph = new_graph
        val_users, val_items, val_labels = rows_tensors(data, validation)
        if val_labels.unique().numel() < 2:
            raise InvalidParameterError("solver='adam' early-stops on validation AUC and needs both labels in validation")

        def validation_auc(update: torch.Tensor) -> float:
            with torch.no_grad():
                users, items = objective.tables(theta0 + update)
                logits = score_pairs(users, items, new_graph, model.layers, val_users, val_items)
            return float(roc_auc_score(val_labels.numpy(), logits.numpy()))

        delta, details = solve_adam(hvp, b, solver, validation_auc)
    with torch.no_grad():
        applied = hvp(delta)
    b_norm = float(b.norm())
    residual = float((applied - b).norm()) / b_norm if b_norm > 0 else 0.0
    if not torch.isfinite(delta).all():
        raise FloatingPointError(f"the influence solve ({solver.kind}) produced non-finite values; raise the damping")
    objective.write(model, theta0 + delta)
    model.graph = new_graph
    n_total = (model.n_users + model.n_items) * objective.dim
    return {
        **details,
        "solver": solver.kind,
        "relative_residual": residual,
        "removal_gradient_norm": float(g_sum.norm()),
        "train_gradient_norm": float(train_gradient.norm()),
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
