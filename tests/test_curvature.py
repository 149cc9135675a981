"""The shared curvature solvers, against answers that are correct by construction."""

from __future__ import annotations

import pytest
import torch

from unlearnkit.methods.curvature import (
    AdamSettings,
    DampedOperator,
    adam_quadratic,
    conjugate_gradient,
    dense_matrix,
    pseudo_inverse_solve,
)


def random_spd(size: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    factor = torch.randn(size, size, generator=g, dtype=torch.float64)
    return factor @ factor.T / size + 0.1 * torch.eye(size, dtype=torch.float64)


@pytest.mark.parametrize("seed", [0, 1])
def test_cg_on_a_damped_spd_matrix_matches_a_direct_solve(seed: int) -> None:
    matrix = random_spd(30, seed)
    b = torch.randn(30, generator=torch.Generator().manual_seed(seed + 10), dtype=torch.float64)
    operator = DampedOperator(lambda v: matrix @ v, 0.05)
    result = conjugate_gradient(operator, b, tol=1e-10, max_iter=200)
    exact = torch.linalg.solve(matrix + 0.05 * torch.eye(30, dtype=torch.float64), b)
    torch.testing.assert_close(result.x, exact)
    assert result.stop_reason == "converged" and not result.truncated
    assert 1 <= result.iterations <= 60  # exact arithmetic needs at most 30; rounding adds a few
    assert result.relative_residual <= 1e-10
    true_residual = float((operator(result.x) - b).norm() / b.norm())
    assert true_residual == pytest.approx(result.relative_residual, abs=1e-9)


def test_cg_truncates_at_negative_curvature_and_says_so() -> None:
    # the first direction (b itself) has curvature 3 + 2 - 1 > 0, a later one meets the -1 eigenvalue
    matrix = torch.diag(torch.tensor([3.0, 2.0, -1.0], dtype=torch.float64))
    b = torch.ones(3, dtype=torch.float64)
    result = conjugate_gradient(lambda v: matrix @ v, b, tol=1e-12, max_iter=50)
    assert result.truncated and result.stop_reason == "negative_curvature"
    assert 1 <= result.iterations < 3
    assert result.relative_residual > 1e-3  # not a solution ...
    quadratic = 0.5 * result.x @ matrix @ result.x - b @ result.x
    assert float(quadratic) < 0.0  # ... but the iterate decreases the quadratic model

    # a negative first direction: nothing is done
    flat = conjugate_gradient(lambda v: matrix @ v, torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64), tol=1e-12, max_iter=50)
    assert flat.truncated and flat.iterations == 0 and torch.equal(flat.x, torch.zeros(3, dtype=torch.float64))


def test_preconditioning_cuts_iterations_on_an_ill_conditioned_diagonal() -> None:
    diagonal = torch.logspace(0, 6, 50, dtype=torch.float64)
    b = torch.randn(50, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    plain = conjugate_gradient(lambda v: diagonal * v, b, tol=1e-8, max_iter=500)
    jacobi = conjugate_gradient(lambda v: diagonal * v, b, tol=1e-8, max_iter=500, preconditioner=lambda r: r / diagonal)
    torch.testing.assert_close(jacobi.x, b / diagonal)
    torch.testing.assert_close(plain.x, b / diagonal, rtol=1e-6, atol=1e-12)
    assert jacobi.iterations == 1  # the exact inverse as preconditioner
    assert plain.iterations > 20


def test_cg_stops_at_max_iterations_and_handles_a_zero_right_hand_side() -> None:
    matrix = random_spd(40, 4)
    b = torch.ones(40, dtype=torch.float64)
    capped = conjugate_gradient(lambda v: matrix @ v, b, tol=1e-14, max_iter=3)
    assert capped.stop_reason == "max_iterations" and capped.iterations == 3 and capped.relative_residual > 1e-14
    zero = conjugate_gradient(lambda v: matrix @ v, torch.zeros(40, dtype=torch.float64), tol=1e-6, max_iter=10)
    assert zero.stop_reason == "zero_right_hand_side" and zero.iterations == 0 and not zero.x.any()


def test_solvers_keep_no_autograd_graph() -> None:
    weights = random_spd(10, 5).requires_grad_(True)
    b = torch.ones(10, dtype=torch.float64)
    result = conjugate_gradient(DampedOperator(lambda v: weights @ v, 0.1), b, tol=1e-8, max_iter=50)
    assert not result.x.requires_grad and result.x.grad_fn is None
    assert not DampedOperator(lambda v: weights @ v, 0.1)(b).requires_grad


def test_damped_operator_rejects_negative_damping_and_builds_its_matrix() -> None:
    with pytest.raises(ValueError, match="damping"):
        DampedOperator(lambda v: v, -1e-3)
    matrix = random_spd(6, 6)
    dense = dense_matrix(DampedOperator(lambda v: matrix @ v, 0.5), 6, torch.float64)
    torch.testing.assert_close(dense, matrix + 0.5 * torch.eye(6, dtype=torch.float64))


def test_pseudo_inverse_solve_on_a_singular_matrix_gives_the_minimum_norm_solution() -> None:
    basis = torch.randn(8, 3, generator=torch.Generator().manual_seed(7), dtype=torch.float64)
    singular = basis @ basis.T  # rank 3
    b = singular @ torch.randn(8, generator=torch.Generator().manual_seed(8), dtype=torch.float64)  # in the range
    x = pseudo_inverse_solve(lambda v: singular @ v, b)
    torch.testing.assert_close(singular @ x, b)
    torch.testing.assert_close(x, torch.linalg.pinv(singular, hermitian=True) @ b)


def test_adam_quadratic_approaches_the_solution_and_keeps_the_best_iterate() -> None:
    matrix = random_spd(5, 9)
    b = torch.ones(5, dtype=torch.float64)
    exact = torch.linalg.solve(matrix, b)

    def closeness(x: torch.Tensor) -> float:
        return -float((x - exact).norm())

    result = adam_quadratic(lambda v: matrix @ v, b, AdamSettings(lr=0.05, steps=3000, patience=50), closeness)
    assert float((result.x - exact).norm()) < 0.05 * float(exact.norm())
    assert 1 <= result.best_step <= result.steps <= 3000
    assert result.best_score == pytest.approx(closeness(result.x))
    # a score that never improves on x = 0 stops after `patience` steps and returns no update
    stuck = adam_quadratic(lambda v: matrix @ v, b, AdamSettings(lr=0.05, steps=100, patience=4), lambda x: -float(x.norm()))
    assert stuck.steps == 4 and stuck.best_step == 0 and not stuck.x.any()
