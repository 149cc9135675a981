"""The influence operator behind IFRU: curvature products, solvers, selection, and exactness.

Oracles: explicit Hessians and Jacobians on tiny models, and exact
retraining (L-BFGS to convergence, warm-started at the original) of tiny
L2-regularised models, where influence functions should be accurate.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from unlearnkit.data.recsys import (
    InteractionData,
    InteractionSplitSpec,
    RandomInteractions,
    SyntheticInteractions,
)
from unlearnkit.errors import InvalidParameterError
from unlearnkit.methods.recsys import Ifru, RecommendationTask
from unlearnkit.methods.recsys.influence import (
    NodeSelection,
    SubsetObjective,
    conjugate_gradient,
    gauss_newton_product,
    importance_selection,
    spillover_rows,
)
from unlearnkit.models.recsys import (
    LightGCN,
    MatrixFactorisation,
    Recommender,
    row_losses,
)
from unlearnkit.training.recsys import RecTrainSpec, predict_rows, rows_tensors


def tiny_objective(layers: int, l2: float = 0.1) -> tuple[SubsetObjective, tuple[torch.Tensor, ...], torch.Tensor | None, int]:
    data = SyntheticInteractions(n_users=8, n_items=6, n_rows=30, rank=2, seed=0).load()
    builder = MatrixFactorisation(dim=3) if layers == 0 else LightGCN(dim=3, layers=layers)
    model = builder.build(data.meta, torch.Generator().manual_seed(0)).double()
    rows = np.arange(len(data))
    model.condition_on(data, rows)
    objective = SubsetObjective(model, NodeSelection(np.arange(8), np.array([0, 2, 3, 5])), l2)
    return objective, rows_tensors(data, rows), model.graph, layers


@pytest.mark.parametrize("layers", [0, 2])
def test_hvp_matches_explicit_hessian(layers: int) -> None:
    from torch.func import grad, vjp

    objective, rows, graph, layers = tiny_objective(layers)
    n = rows[0].numel()

    def mean_loss(theta: torch.Tensor) -> torch.Tensor:
        return objective.loss_sum(theta, rows, graph, layers) / n

    _, hvp = vjp(grad(mean_loss), objective.theta0)
    explicit = torch.autograd.functional.hessian(mean_loss, objective.theta0)
    v = torch.randn(objective.theta0.numel(), generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    assert torch.allclose(hvp(v)[0], explicit @ v, atol=1e-10)


def test_gauss_newton_product_matches_jacobian_form() -> None:
    objective, rows, graph, layers = tiny_objective(layers=1)
    n = rows[0].numel()
    product = gauss_newton_product(objective, objective.theta0, rows, graph, layers, n)
    jacobian = torch.autograd.functional.jacobian(lambda t: objective.scores(t, rows, graph, layers), objective.theta0)
    p = torch.sigmoid(objective.scores(objective.theta0, rows, graph, layers))
    penalty = torch.autograd.functional.hessian(lambda t: objective.penalty_sum(t, rows) / n, objective.theta0)
    matrix = jacobian.T @ torch.diag(p * (1 - p) / n) @ jacobian + penalty
    assert torch.linalg.eigvalsh(matrix).min() > -1e-12  # positive semi-definite by construction
    v = torch.randn(objective.theta0.numel(), generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    assert torch.allclose(product(v), matrix @ v, atol=1e-10)


def test_conjugate_gradient_solves_and_stops_at_negative_curvature() -> None:
    matrix = torch.tensor([[4.0, 1.0, 0.0], [1.0, 3.0, 0.5], [0.0, 0.5, 2.0]], dtype=torch.float64)
    b = torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64)
    x, iterations, negative = conjugate_gradient(lambda v: matrix @ v, b, 1e-12, 50)
    assert torch.allclose(x, torch.linalg.solve(matrix, b)) and iterations <= 3 and not negative
    indefinite = torch.diag(torch.tensor([1.0, -1.0, 2.0], dtype=torch.float64))
    x, _, negative = conjugate_gradient(lambda v: indefinite @ v, torch.tensor([0.0, 1.0, 0.0], dtype=torch.float64), 1e-12, 50)
    assert negative and torch.equal(x, torch.zeros(3, dtype=torch.float64))


def hand_graph() -> InteractionData:
    # users 0-2, items 0-2: u0-i0 (+), u0-i1 (+), u1-i1 (+), u1-i2 (-), u2-i2 (+)
    return InteractionData("hand", [0, 0, 1, 1, 2], [0, 1, 1, 2, 2], [1, 1, 1, 0, 1], n_users=3, n_items=3)


def test_importance_selection_by_hops_and_quantile() -> None:
    data, train, forget = hand_graph(), np.arange(5), np.array([0])  # forget u0-i0
    zero = importance_selection(data, train, forget, k_hops=0, keep_quantile=None)
    assert zero.users.tolist() == [0] and zero.items.tolist() == [0]
    one = importance_selection(data, train, forget, k_hops=1, keep_quantile=None)
    assert one.users.tolist() == [0] and one.items.tolist() == [0, 1]  # i1 neighbours u0
    two = importance_selection(data, train, forget, k_hops=2, keep_quantile=None)
    assert two.users.tolist() == [0, 1] and two.items.tolist() == [0, 1]
    # scores after 2 hops: u1 is reached only through i1, with the smallest score; the quantile drops it
    pruned = importance_selection(data, train, forget, k_hops=2, keep_quantile=0.3)
    assert pruned.users.tolist() == [0] and pruned.items.tolist() == [0, 1]


def test_spillover_rows_follow_positive_degree_change() -> None:
    data, train = hand_graph(), np.arange(5)
    # forgetting u0-i1 halves the positive degree of u0 (2 -> 1) and of i1 (2 -> 1)
    changed = spillover_rows(data, train, np.array([1]), ratio=0.4)
    assert changed.tolist() == [0, 2]  # u0-i0 and u1-i1
    assert spillover_rows(data, train, np.array([1]), ratio=0.6).size == 0
    # a negative row is not an edge: forgetting u1-i2 changes no degree
    assert spillover_rows(data, train, np.array([3]), ratio=0.0).size == 0


def converge(model: Recommender, data: InteractionData, rows: np.ndarray, l2: float) -> None:
    """Full-batch L-BFGS on the mean row loss until the gradient vanishes."""
    users, items, labels = rows_tensors(data, rows)
    model.condition_on(data, rows)
    params = [model.user_embedding, model.item_embedding]
    optimizer = torch.optim.LBFGS(
        params, lr=1, max_iter=2000, tolerance_grad=1e-10, tolerance_change=1e-14, history_size=50, line_search_fn="strong_wolfe"
    )

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = row_losses(model.user_embedding, model.item_embedding, model.graph, model.layers, users, items, labels, l2).mean()
        loss.backward()
        return loss

    optimizer.step(closure)
    assert torch.cat([p.grad.flatten() for p in params]).norm() < 1e-6


def converged_problem(layers: int, seed: int, l2: float = 0.1) -> tuple[RecommendationTask, Recommender, Recommender]:
    """A tiny L2-regularised model trained to convergence, and exact retraining without one row."""
    source = SyntheticInteractions(n_users=20, n_items=20, n_rows=320, rank=2, signal=6.0, seed=seed).load()
    data, split = InteractionSplitSpec(seed=seed).build(source, RandomInteractions(count=1))
    builder = MatrixFactorisation(dim=3) if layers == 0 else LightGCN(dim=3, layers=layers)
    original = builder.build(data.meta, torch.Generator().manual_seed(seed)).double()
    converge(original, data, split.train, l2)
    exact = copy.deepcopy(original)  # warm start: the local optimum the Newton step aims at
    converge(exact, data, split.retain, l2)
    task = RecommendationTask(data, split, RecTrainSpec(l2=l2), builder, torch.Generator().manual_seed(0))
    return task, original, exact


def distance(a: Recommender, b: Recommender, task: RecommendationTask) -> float:
    rows = np.arange(len(task.data))
    return float((predict_rows(a, task.data, rows) - predict_rows(b, task.data, rows)).norm())


EXACT = {"curvature": "hessian", "damping": 1e-6, "k_hops": 3, "degree_change_ratio": 0.0}


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_ifru_step_lands_near_exact_retraining_of_converged_mf(seed: int) -> None:
    task, original, exact = converged_problem(layers=0, seed=seed)
    before = distance(original, exact, task)
    direct = Ifru(solver="exact", **EXACT).unlearn(original, task).model
    iterative = Ifru(solver="cg", cg_tol=1e-10, cg_max_iter=500, **EXACT).unlearn(original, task).model
    assert distance(direct, exact, task) < 0.5 * before
    assert distance(direct, iterative, task) < 1e-6 * before + 1e-9


@pytest.mark.parametrize("seed", [2, 3, 4])
def test_spillover_brings_lightgcn_closer_to_retraining(seed: int) -> None:
    task, original, exact = converged_problem(layers=1, seed=seed)
    before = distance(original, exact, task)
    with_spillover = Ifru(solver="exact", **EXACT).unlearn(original, task)
    without = Ifru(solver="exact", spillover=False, **EXACT).unlearn(original, task)
    assert with_spillover.diagnostics["n_spillover_rows"] > 0
    assert distance(with_spillover.model, exact, task) < 0.3 * before
    assert distance(with_spillover.model, exact, task) < distance(without.model, exact, task)


def test_retain_hessian_is_one_newton_step_on_the_retrained_objective() -> None:
    task, original, _ = converged_problem(layers=0, seed=1)
    data, retain, l2 = task.data, task.split.retain, task.train_spec.l2
    users, items, labels = rows_tensors(data, retain)
    theta = torch.cat([original.user_embedding.detach().flatten(), original.item_embedding.detach().flatten()])
    n_u = original.user_embedding.numel()

    def retained_objective(t: torch.Tensor) -> torch.Tensor:
        u, i = t[:n_u].view_as(original.user_embedding), t[n_u:].view_as(original.item_embedding)
        return row_losses(u, i, None, 0, users, items, labels, l2).mean()

    hess = torch.autograd.functional.hessian(retained_objective, theta)
    gradient = torch.func.grad(retained_objective)(theta)
    newton = theta - torch.linalg.pinv(hess + 1e-6 * torch.eye(theta.numel()), hermitian=True, rtol=1e-6) @ gradient
    result = Ifru(solver="exact", hessian_on="retain", **EXACT).unlearn(original, task).model
    moved = torch.cat([result.user_embedding.flatten(), result.item_embedding.flatten()])
    # equal up to the training gradient at the original (< 1e-6) that the influence formula assumes to be zero
    assert torch.allclose(moved, newton, atol=1e-4)
    assert (moved - theta).norm() > 1e-2


def test_adam_solver_keeps_the_best_validation_update() -> None:
    task, original, _ = converged_problem(layers=0, seed=0)
    result = Ifru(solver="adam", damping=0.0, adam_lr=0.01, adam_steps=50, adam_patience=5).unlearn(original, task)
    diagnostics = result.diagnostics
    assert 1 <= diagnostics["solver_iterations"] <= 50
    assert 0 <= diagnostics["adam_best_step"] <= diagnostics["solver_iterations"]
    assert np.isfinite(diagnostics["relative_residual"])


def test_exact_solver_refuses_large_problems() -> None:
    task, original, _ = converged_problem(layers=0, seed=0)
    big = copy.deepcopy(original)
    big.user_embedding = torch.nn.Parameter(torch.zeros(20, 300, dtype=torch.float64))
    big.item_embedding = torch.nn.Parameter(torch.zeros(20, 300, dtype=torch.float64))
    with pytest.raises(InvalidParameterError, match="solver='exact'"):
        Ifru(solver="exact", k_hops=3).unlearn(big, task)


@pytest.mark.parametrize("layers", [0, 1])
def test_newton_steps_converge_to_exact_retraining_of_a_converged_model(layers: int) -> None:
    task, original, exact = converged_problem(layers=layers, seed=1)
    settings = {"curvature": "hessian", "damping": 0.0, "k_hops": 3, "degree_change_ratio": 0.0, "cg_tol": 1e-10, "cg_max_iter": 500}
    one = Ifru(**settings).unlearn(original, task)
    three = Ifru(newton_steps=3, **settings).unlearn(original, task)
    assert len(three.diagnostics["newton"]) == 2
    # Newton on the removal equation: the residual shrinks fast and the result approaches the exact optimum
    residuals = [step["residual_norm"] for step in three.diagnostics["newton"]]
    assert residuals[1] < 0.1 * residuals[0]
    assert distance(three.model, exact, task) < 0.1 * distance(one.model, exact, task)


def test_closed_form_curvature_matches_torch_func() -> None:
    from unlearnkit.methods.recsys.curvature import EmbeddingGaussNewton

    objective, rows, graph, layers = tiny_objective(layers=2)
    n = rows[0].numel()
    nodes = torch.cat([objective.user_index, objective.item_index + objective.users.shape[0]])
    reference = gauss_newton_product(objective, objective.theta0, rows, graph, layers, n)
    closed = EmbeddingGaussNewton(objective.users, objective.items, graph, layers, rows[0], rows[1], n, objective.l2, nodes)
    v = torch.randn(objective.theta0.numel(), generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    assert torch.allclose(closed(v), reference(v), atol=1e-12)
    exact = EmbeddingGaussNewton(objective.users, objective.items, graph, layers, rows[0], rows[1], n, objective.l2, nodes, labels=rows[2])
    hessian = torch.autograd.functional.hessian(lambda t: objective.loss_sum(t, rows, graph, layers) / n, objective.theta0)
    assert torch.allclose(exact(v), hessian @ v, atol=1e-12)
    assert not torch.allclose(exact(v), closed(v), atol=1e-6)  # the residual term matters


def test_block_preconditioner_inverts_the_diagonal_blocks_and_pcg_solves() -> None:
    from unlearnkit.methods.recsys.curvature import EmbeddingGaussNewton

    objective, rows, graph, layers = tiny_objective(layers=0)
    n, dim = rows[0].numel(), objective.dim
    nodes = torch.cat([objective.user_index, objective.item_index + objective.users.shape[0]])
    product = EmbeddingGaussNewton(objective.users, objective.items, graph, layers, rows[0], rows[1], n, objective.l2, nodes)
    size = objective.theta0.numel()
    identity = torch.eye(size, dtype=torch.float64)
    matrix = torch.stack([product(column) for column in identity], dim=1) + 1e-3 * identity
    blocks = torch.block_diag(*[matrix[k : k + dim, k : k + dim] for k in range(0, size, dim)])
    v = torch.randn(size, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    # MF: the blocks are exact, so the preconditioner is the inverse of the block diagonal
    assert torch.allclose(product.block_preconditioner(1e-3)(v), torch.linalg.solve(blocks, v), atol=1e-10)
    x, iterations, negative = conjugate_gradient(lambda u: matrix @ u, v, 1e-12, 200, product.block_preconditioner(1e-3))
    _, plain_iterations, _ = conjugate_gradient(lambda u: matrix @ u, v, 1e-12, 200)
    assert torch.allclose(x, torch.linalg.solve(matrix, v), atol=1e-8) and not negative
    assert iterations < plain_iterations


def test_newton_steps_leave_nodes_without_retained_rows_alone() -> None:
    source = SyntheticInteractions(n_users=30, n_items=20, n_rows=400, rank=2, signal=6.0, seed=0).load()
    from unlearnkit.data.recsys import Users

    data, split = InteractionSplitSpec(seed=0).build(source, Users(n_users=2))
    builder = MatrixFactorisation(dim=3)
    spec = RecTrainSpec(epochs=30, batch_size=64, lr=5e-2, l2=0.1, patience=3)
    task = RecommendationTask(data, split, spec, builder, torch.Generator().manual_seed(0))
    from unlearnkit.methods.recsys import train_original

    original = train_original(task)
    deleted = np.unique(data.user[split.forget])
    one = Ifru(damping=1e-6).unlearn(original, task).model
    four = Ifru(damping=1e-6, newton_steps=4).unlearn(original, task).model
    # the deleted users keep IFRU's first step (no retained row constrains them) instead of moving by gradient/damping
    assert torch.allclose(four.user_embedding[deleted], one.user_embedding[deleted])
    assert torch.isfinite(four.user_embedding).all() and four.user_embedding.abs().max() < 10
    assert not torch.allclose(four.item_embedding, one.item_embedding)
