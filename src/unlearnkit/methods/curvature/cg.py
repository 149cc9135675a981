"""Damped, preconditioned conjugate gradient, truncated at non-positive curvature."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import torch

StopReason = Literal["converged", "max_iterations", "negative_curvature", "zero_right_hand_side"]


@dataclass(frozen=True)
class SolveResult:
    """The iterate and how the iteration ended.

    ``iterations`` counts the updates applied to ``x``;
    ``relative_residual`` is |b - A x| / |b| of the recursively updated
    residual (0 for a zero right-hand side, which x = 0 solves exactly).
    """

    x: torch.Tensor
    iterations: int
    relative_residual: float
    stop_reason: StopReason

    @property
    def truncated(self) -> bool:
        """Whether CG stopped before a direction of non-positive curvature (A is not positive definite there)."""
        return self.stop_reason == "negative_curvature"

    def diagnostics(self, prefix: str = "cg_") -> dict[str, float | int | bool | str]:
        return {
            f"{prefix}iterations": self.iterations,
            f"{prefix}relative_residual": self.relative_residual,
            f"{prefix}truncated": self.truncated,
            f"{prefix}stop_reason": self.stop_reason,
        }


@torch.no_grad()
def conjugate_gradient(
    operator: Callable[[torch.Tensor], torch.Tensor],
    b: torch.Tensor,
    *,
    tol: float,
    max_iter: int,
    preconditioner: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> SolveResult:
    """Solve ``A x = b`` for symmetric ``A`` from ``x = 0``; stop when ``|r| <= tol |b|``.

    With a ``preconditioner`` (``v -> M^-1 v``, M symmetric positive
    definite) this is preconditioned CG; the stopping rule stays on the
    unpreconditioned residual. If a search direction p has ``p'Ap <= 0``
    (``A`` is not positive definite, e.g. an under-damped Hessian of a deep
    network or an early-stopped recommender) the iteration stops *before*
    it and returns the iterate so far, as truncated CG (Steihaug) does: that
    iterate still decreases the quadratic model. The result says so
    (``truncated``); whether it is acceptable is the caller's decision.
    Runs under ``torch.no_grad`` and keeps only a few vectors, so memory
    does not grow with the iterations.
    """
    if tol <= 0.0 or max_iter < 1:
        raise ValueError(f"conjugate_gradient needs tol > 0 and max_iter >= 1; got tol={tol!r}, max_iter={max_iter!r}")
    b_norm = float(b.norm())
    x = torch.zeros_like(b)
    if b_norm == 0.0:
        return SolveResult(x, 0, 0.0, "zero_right_hand_side")
    threshold = tol * b_norm
    residual = b.clone()
    z = residual if preconditioner is None else preconditioner(residual)
    direction = z.clone()
    rz = float(residual @ z)
    residual_norm = b_norm
    for iteration in range(max_iter):
        product = operator(direction)
        curvature = float(direction @ product)
        if curvature <= 0.0:
            return SolveResult(x, iteration, residual_norm / b_norm, "negative_curvature")
        step = rz / curvature
        x += step * direction
        residual -= step * product
        residual_norm = float(residual.norm())
        if residual_norm <= threshold:
            return SolveResult(x, iteration + 1, residual_norm / b_norm, "converged")
        z = residual if preconditioner is None else preconditioner(residual)
        new_rz = float(residual @ z)
        direction = z + (new_rz / rz) * direction
        rz = new_rz
    return SolveResult(x, max_iter, residual_norm / b_norm, "max_iterations")
