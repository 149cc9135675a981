"""Influence-function unlearning for embedding recommenders (the operator behind IFRU, SCIF, influence_rec).

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

The work is split in two (fair timing, issue 14): :func:`prepare` does what
depends only on the model and the training rows (the training index, the
model's graph, the per-row curvature state when it spans every row) and is
reported as ``setup_seconds``; :func:`influence_update` then answers the
request. Without propagation in the Hessian (MF, or the ego-embedding
Hessian) the curvature runs over the rows touching theta_S only, which
gives the same matrix at a cost proportional to the request's neighbourhood.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch
from sklearn.metrics import roc_auc_score
from torch.func import grad, vjp

from unlearnkit.data.recsys.interactions import InteractionData
from unlearnkit.errors import InvalidParameterError, TrainingDivergedError
from unlearnkit.methods.curvature import DampedOperator, conjugate_gradient
from unlearnkit.methods.recsys.gauss_newton import (
    BlockCurvature,
    CurvatureProduct,
    EmbeddingGaussNewton,
    NodeBlocks,
    RowCurvature,
)
from unlearnkit.methods.recsys.neighbourhood import NodeSelection, TrainingIndex
from unlearnkit.methods.recsys.solver import SolverConfig, make_preconditioner, solve
from unlearnkit.models.recsys.embedding import (
    Recommender,
    graph_of,
    penalised_bce,
    row_losses,
    score_pairs,
)
from unlearnkit.models.recsys.graph import LocalPropagation, to_scipy, without_edges
from unlearnkit.training.recsys import rows_tensors

# (users, items, labels) of a set of interaction rows, as rows_tensors returns them.
Rows = tuple[torch.Tensor, torch.Tensor, torch.Tensor]
# What torch.func.vjp returns besides the output: cotangent -> one gradient per primal.
Pullback = Callable[[torch.Tensor], tuple[torch.Tensor, ...]]

# --------------------------------------------------------------------------- settings and set-up


@dataclass(frozen=True)
class InfluenceSettings:
    """What an influence method asks of the operator (validated by the method).

    ``k_hops``/``keep_quantile``: importance selection of theta_S;
    ``spillover``/``degree_change_ratio``: the D_c term (graph models);
    ``ego_hessian``: the Hessian of the loss on ego embeddings, without
    propagation (IFRU's official code); ``hessian_on``: rows (and graph) of
    H, "train" (D, old graph) or "retain" (D minus D_u, new graph);
    ``newton_steps``: further Newton steps on the removal equation;
    ``replace_labels``: "none" removes the rows, "user_mean" replaces their
    labels by the user's mean retained label (the item's when the user has
    none), the SCIF re-implementation of ``baiyimeng/IFRU``; ``orphans``:
    what happens to touched nodes left without any training row, "keep"
    (the influence step decides) or "reinit" (re-drawn from the model
    builder's initialisation, where retraining leaves them); ``node_blocks``:
    build every node's d x d curvature block in the set-up (Hessian without
    propagation on D only), so that a request reads its nodes' blocks
    instead of every row touching them.
    """

    k_hops: int
    keep_quantile: float | None
    spillover: bool
    degree_change_ratio: float
    ego_hessian: bool
    hessian_on: str  # "train" or "retain"
    newton_steps: int
    replace_labels: str  # "none" or "user_mean"
    orphans: str  # "keep" or "reinit"
    solver: SolverConfig
    node_blocks: bool = False

    def hessian_layers(self, model: Recommender) -> int:
        return 0 if self.ego_hessian else model.layers

    def uses_node_blocks(self, model: Recommender) -> bool:
        return self.node_blocks and self.hessian_layers(model) == 0 and self.hessian_on == "train"

    def local_gradient(self, model: Recommender) -> bool:
        """Whether the removal gradient involves only the forget rows over the old graph (no spillover):
        then it is computed from their neighbourhood."""
        return model.layers > 0 and not self.spillover


@dataclass(frozen=True, eq=False)
class Preparation:
    """Request-independent work for one model and its training rows, and how long it took."""

    index: TrainingIndex
    old_graph: torch.Tensor | None
    old_graph_rows: sp.csr_matrix | None  # the old graph in CSR form, for gradients over a neighbourhood
    curvature: RowCurvature | None  # the per-row curvature over every training row, when the request cannot shrink it
    blocks: NodeBlocks | None  # every node's curvature block (settings.node_blocks)
    seconds: float


def prepare(model: Recommender, data: InteractionData, train: np.ndarray, l2: float, settings: InfluenceSettings) -> Preparation:
    """Everything that does not depend on the forget rows: reusable across deletion requests on this model."""
    start = time.perf_counter()
    index = TrainingIndex.build(data, train)
    dtype = model.user_embedding.dtype
    # The model's own graph is the old graph G_D (it was trained on ``train``); no need to rebuild it.
    old_graph = (model.graph if model.graph is not None else graph_of(data, train, dtype)) if model.layers > 0 else None
    if old_graph is not None and old_graph.coalesce().indices().shape[1] != 2 * int(index.positive_degree[: data.n_users].sum()):
        raise InvalidParameterError(
            f"the model's graph has {old_graph.coalesce().indices().shape[1]} non-zeros, but the {train.size} training rows give "
            f"{2 * int(index.positive_degree[: data.n_users].sum())}: the model is not conditioned on these training rows"
        )
    curvature = None
    if settings.hessian_on == "train" and settings.hessian_layers(model) > 0:
        rows = rows_tensors(data, train)
        curvature = RowCurvature.build(
            model.user_embedding, model.item_embedding, old_graph, model.layers, rows[0], rows[1], int(train.size), l2,
            labels=rows[2] if settings.solver.curvature == "hessian" else None,
        )
    old_graph_rows = to_scipy(old_graph) if old_graph is not None and settings.local_gradient(model) else None
    blocks = None
    if settings.uses_node_blocks(model):
        blocks = NodeBlocks.build(model.user_embedding, model.item_embedding, index.node_start, index.node_others, int(train.size), l2)
    return Preparation(index, old_graph, old_graph_rows, curvature, blocks, time.perf_counter() - start)


# --------------------------------------------------------------------------- the objective on theta_S


@dataclass(frozen=True, eq=False)
class LocalRows:
    """Rows whose loss is computed through a :class:`LocalPropagation` of their ends."""

    users: torch.Tensor
    items: torch.Tensor
    labels: torch.Tensor
    propagation: LocalPropagation
    nodes: torch.Tensor
    user_positions: torch.Tensor
    item_positions: torch.Tensor

    @classmethod
    def build(
        cls, rows: tuple[torch.Tensor, torch.Tensor, torch.Tensor], graph: sp.csr_matrix, n_users: int, layers: int, dtype: torch.dtype
    ) -> LocalRows:
        users, items, labels = rows
        user_nodes, item_nodes = users.numpy(), items.numpy() + n_users
        propagation = LocalPropagation(graph, np.concatenate([user_nodes, item_nodes]), layers, dtype)
        return cls(
            users, items, labels, propagation, torch.as_tensor(propagation.nodes),
            propagation.positions(user_nodes), propagation.positions(item_nodes),
        )

    def relabelled(self, labels: torch.Tensor) -> LocalRows:
        return LocalRows(self.users, self.items, labels, self.propagation, self.nodes, self.user_positions, self.item_positions)



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
        self, theta: torch.Tensor, rows: Rows, graph: torch.Tensor | None, layers: int
    ) -> torch.Tensor:
        users, items = self.tables(theta)
        return row_losses(users, items, graph, layers, *rows, self.l2).sum()

    def local_loss_sum(self, theta: torch.Tensor, rows: LocalRows) -> torch.Tensor:
        """``loss_sum`` over the old graph, computed from the rows' neighbourhood only (same value)."""
        users, items = self.tables(theta)
        final = rows.propagation(torch.cat([users, items])[rows.nodes])
        logits = (final[rows.user_positions] * final[rows.item_positions]).sum(-1)
        return penalised_bce(logits, rows.labels, users[rows.users], items[rows.items], self.l2).sum()

    def scores(self, theta: torch.Tensor, rows: Rows, graph: torch.Tensor | None, layers: int) -> torch.Tensor:
        users, items = self.tables(theta)
        return score_pairs(users, items, graph, layers, rows[0], rows[1])

    def penalty_sum(self, theta: torch.Tensor, rows: Rows) -> torch.Tensor:
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
    rows: Rows,
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

    def training_scores(theta: torch.Tensor) -> torch.Tensor:
        return objective.scores(theta, rows, graph, layers)

    def mean_penalty(theta: torch.Tensor) -> torch.Tensor:
        return objective.penalty_sum(theta, rows) / n

    # torch.func.vjp's annotation also covers has_aux=True (three results): index instead of unpacking.
    forward = vjp(training_scores, theta0)
    scores: torch.Tensor = forward[0]
    pullback: Pullback = forward[1]
    prob = torch.sigmoid(scores.detach())
    weight = prob * (1 - prob) / n

    def transposed_product(u: torch.Tensor) -> torch.Tensor:
        return pullback(u)[0]

    jacobian_product: Pullback = vjp(transposed_product, torch.zeros_like(scores))[1]
    penalty_hvp: Pullback = vjp(grad(mean_penalty), theta0)[1]

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
    train_rows: Rows,
    retain_rows: Rows,
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
        product = EmbeddingGaussNewton.build(
            users, items, hessian_graph, hessian_layers, retain_rows[0], retain_rows[1], n, l2, nodes,
            labels=retain_rows[2] if solver.curvature == "hessian" else None,
        )
        result = conjugate_gradient(
            DampedOperator(product, solver.damping), -residual,
            tol=solver.cg.tol, max_iter=solver.cg.max_iter, preconditioner=make_preconditioner(product, solver),
        )
        if not torch.isfinite(result.x).all():
            raise TrainingDivergedError("a Newton refinement step produced non-finite values; raise the damping")
        theta = theta + result.x * constrained
        log.append({"residual_norm": float(residual.norm()), "cg_iterations": result.iterations, "negative_curvature": result.truncated})
    return theta, log


def replacement_labels(data: InteractionData, retain_rows: np.ndarray, forget: np.ndarray) -> torch.Tensor:
    """Each forget row's user mean retained label, or its item's when the user has no retained row (SCIF).

    Raises when neither the user nor the item of a forget row keeps a row.
    """
    sums = np.bincount(data.user[retain_rows], weights=data.label[retain_rows], minlength=data.n_users)
    counts = np.bincount(data.user[retain_rows], minlength=data.n_users)
    item_sums = np.bincount(data.item[retain_rows], weights=data.label[retain_rows], minlength=data.n_items)
    item_counts = np.bincount(data.item[retain_rows], minlength=data.n_items)
    users, items = data.user[forget], data.item[forget]
    missing = (counts[users] == 0) & (item_counts[items] == 0)
    if missing.any():
        raise InvalidParameterError(
            f"replace_labels='user_mean' needs a retained row of the user or the item of every forget row; "
            f"{int(missing.sum())} forget rows have neither"
        )
    with np.errstate(invalid="ignore", divide="ignore"):
        labels = np.where(counts[users] > 0, sums[users] / counts[users], item_sums[items] / item_counts[items])
    return torch.as_tensor(labels)


def influence_update(
    model: Recommender,
    data: InteractionData,
    train: np.ndarray,
    forget: np.ndarray,
    validation: np.ndarray,
    *,
    l2: float,
    settings: InfluenceSettings,
    preparation: Preparation,
    initial_rows: Callable[[int], torch.Tensor],
) -> dict[str, Any]:
    """Apply the influence step to ``model`` in place; it ends conditioned on the retained graph.

    ``preparation`` comes from :func:`prepare` on the same model and rows.
    ``initial_rows(k)`` draws k fresh embedding rows (``orphans="reinit"``).

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
    index, old_graph = preparation.index, preparation.old_graph
    solver = settings.solver
    n = int(train.size)
    dtype = model.user_embedding.dtype
    hessian_layers = settings.hessian_layers(model)

    @cache
    def retain() -> np.ndarray:
        """D minus D_u, computed only when a setting reads it (the retained Hessian, Newton steps, label replacement)."""
        return np.setdiff1d(train, forget)

    # G' = G without the lost edges, renormalised: a pass over G's non-zeros rather than a rebuild from the rows.
    new_graph = without_edges(old_graph, *index.lost_edges(forget), model.n_users) if old_graph is not None else None
    selection = index.importance_selection(forget, settings.k_hops, settings.keep_quantile)
    changed = (
        index.spillover_rows(forget, settings.degree_change_ratio)
        if settings.spillover and model.layers > 0
        else np.zeros(0, dtype=np.int64)
    )
    objective = SubsetObjective(model, selection, l2)
    nodes = torch.cat([objective.user_index, objective.item_index + model.n_users])
    forget_rows = rows_tensors(data, forget)
    changed_rows = rows_tensors(data, changed)
    replaced = None
    if settings.replace_labels == "user_mean":
        replaced = (forget_rows[0], forget_rows[1], replacement_labels(data, retain(), forget))
    local = None
    if preparation.old_graph_rows is not None:
        local = LocalRows.build(forget_rows, preparation.old_graph_rows, model.n_users, model.layers, dtype)

    def forget_loss(theta: torch.Tensor, rows: Rows) -> torch.Tensor:
        if local is None:
            return objective.loss_sum(theta, rows, old_graph, model.layers)
        return objective.local_loss_sum(theta, local.relabelled(rows[2]))

    def removal_loss(theta: torch.Tensor) -> torch.Tensor:
        total = forget_loss(theta, forget_rows)
        if replaced is not None:  # the rows stay, with neutral labels (their L2 terms cancel)
            total = total - forget_loss(theta, replaced)
        if changed.size:
            total = total + objective.loss_sum(theta, changed_rows, old_graph, model.layers)
            total = total - objective.loss_sum(theta, changed_rows, new_graph, model.layers)
        return total

    theta0 = objective.theta0
    g_sum = grad(removal_loss)(theta0).detach()
    curvature_product = hessian_curvature(model, data, train, forget, retain, new_graph, l2, settings, preparation, nodes)
    n_hessian = n if settings.hessian_on == "train" else int(n - forget.size)
    b = g_sum / n_hessian
    solve_start = time.perf_counter()
    validation_auc = (
        validation_scorer(objective, data, validation, new_graph, model.layers) if solver.kind == "adam" else None
    )
    delta, details = solve(curvature_product, b, solver, validation_auc)
    solve_seconds = time.perf_counter() - solve_start
    residual = details.pop("relative_residual", None)
    if residual is None:  # Adam and the explicit solve do not track it: one more product
        b_norm = float(b.norm())
        applied = DampedOperator(curvature_product, solver.damping)(delta)
        residual = float((applied - b).norm()) / b_norm if b_norm > 0 else 0.0
    if not torch.isfinite(delta).all():
        raise TrainingDivergedError(f"the influence solve ({solver.kind}) produced non-finite values; raise the damping")
    theta = theta0 + delta
    if settings.newton_steps > 1:
        theta, details["newton"] = _newton_refinement(
            objective, theta0, theta, rows_tensors(data, train), rows_tensors(data, retain()), old_graph, new_graph,
            model.layers, hessian_layers, n, l2, nodes, solver, settings.newton_steps - 1,
        )
        delta = theta - theta0
    objective.write(model, theta)
    orphans = index.orphans(forget) if settings.orphans == "reinit" else np.zeros(0, dtype=np.int64)
    if orphans.size:
        # Retraining never updates a node without rows: it keeps its initialisation, so draw a fresh one.
        with torch.no_grad():
            fresh = initial_rows(int(orphans.size)).to(dtype)
            users, items = orphans[orphans < model.n_users], orphans[orphans >= model.n_users] - model.n_users
            model.user_embedding[torch.as_tensor(users)] = fresh[: users.size]
            model.item_embedding[torch.as_tensor(items)] = fresh[users.size :]
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
        "n_orphans_reinitialised": int(orphans.size),
        "n_curvature_rows": curvature_product.n_rows,
        "n_parameters_kept": int(theta0.numel()),
        "n_parameters_pruned": int(n_total - theta0.numel()),
        "setup_seconds": preparation.seconds,
        "solve_seconds": solve_seconds,
        "request_seconds": time.perf_counter() - start,
    }


def hessian_curvature(
    model: Recommender,
    data: InteractionData,
    train: np.ndarray,
    forget: np.ndarray,
    retain: Callable[[], np.ndarray],
    new_graph: torch.Tensor | None,
    l2: float,
    settings: InfluenceSettings,
    preparation: Preparation,
    nodes: torch.Tensor,
) -> CurvatureProduct:
    """The curvature product of H on ``nodes``: from the prepared state, or built for this request (locally when possible)."""
    if preparation.curvature is not None:
        return EmbeddingGaussNewton(preparation.curvature, nodes)
    hessian_layers = settings.hessian_layers(model)
    on_train = settings.hessian_on == "train"
    n_hessian = int(train.size) if on_train else int(train.size - forget.size)
    labelled = settings.solver.curvature == "hessian"
    if preparation.blocks is not None:
        # Diagonal blocks from the set-up; only the rows between two selected nodes are read here.
        index = preparation.index
        selected = np.zeros(data.n_users + data.n_items, dtype=bool)
        selected[nodes.numpy()] = True
        near = index.rows_touching(nodes.numpy()[nodes.numpy() < data.n_users])
        between = near[selected[data.item[near] + data.n_users]]
        users, items, labels = rows_tensors(data, between)
        rows = RowCurvature.build(
            model.user_embedding, model.item_embedding, None, 0, users, items, n_hessian, l2, labels=labels if labelled else None
        )
        return BlockCurvature(preparation.blocks, rows, nodes)
    if hessian_layers == 0:
        # Only rows at a selected node have a non-zero Jacobian: the rest adds nothing to H on theta_S.
        local = preparation.index.rows_touching(nodes.numpy())
        if not on_train:
            local = np.setdiff1d(local, forget)
        graph = None
    else:
        if on_train:
            raise RuntimeError("a 'train' Hessian through the graph is built at set-up (Preparation.curvature), not per request")
        local, graph = retain(), new_graph
    users, items, labels = rows_tensors(data, local)
    curvature = RowCurvature.build(
        model.user_embedding, model.item_embedding, graph, hessian_layers, users, items, n_hessian, l2,
        labels=labels if labelled else None,
    )
    return EmbeddingGaussNewton(curvature, nodes)
