"""Inverse Hessian-vector products: conjugate gradient and WoodFisher.

Both work on flat vectors and a matrix-free operator; vector updates run under
``torch.no_grad`` so no autograd graph outlives one Hessian-vector product
(LiSSA-style memory growth is a known failure of hand-written solvers).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import torch


@dataclass(frozen=True)
class SolveResult:
    x: torch.Tensor
    iterations: int
    stop_reason: Literal["converged", "max_iterations", "negative_curvature", "zero_right_hand_side"]


@torch.no_grad()
def conjugate_gradient(
    matvec: Callable[[torch.Tensor], torch.Tensor], b: torch.Tensor, *, max_iter: int, tol: float
) -> SolveResult:
    """Solve ``A x = b`` for symmetric ``A`` from ``x = 0``; stop when ``|r| <= tol * |b|``.

    If a search direction has non-positive curvature (``A`` is not positive
    definite, e.g. an under-damped deep-network Hessian) the iteration stops
    with the current iterate, as truncated CG (Steihaug) does, and the stop
    reason says so; callers decide whether that iterate is acceptable.
    """
    b_norm = float(b.norm())
    x = torch.zeros_like(b)
    if b_norm == 0.0:
        return SolveResult(x, 0, "zero_right_hand_side")
    r = b.clone()
    p = r.clone()
    rs = float(r @ r)
    for iteration in range(max_iter):
        if rs**0.5 <= tol * b_norm:
            return SolveResult(x, iteration, "converged")
        ap = matvec(p)
        curvature = float(p @ ap)
        if curvature <= 0.0:
            return SolveResult(x, iteration, "negative_curvature")
        step = rs / curvature
        x += step * p
        r -= step * ap
        rs_new = float(r @ r)
        p = r + (rs_new / rs) * p
        rs = rs_new
    stop: Literal["converged", "max_iterations"] = "converged" if rs**0.5 <= tol * b_norm else "max_iterations"
    return SolveResult(x, max_iter, stop)


@torch.no_grad()
def woodfisher_solve(gradients: torch.Tensor, coefficient: float, damping: float, v: torch.Tensor) -> torch.Tensor:
    """``(damping*I + coefficient * sum_k g_k g_k^T)^{-1} v`` by rank-one Woodbury (Sherman-Morrison) updates.

    With ``F_k = F_{k-1} + c g_k g_k^T`` and ``u_k = F_{k-1}^{-1} g_k``,
    ``F_k^{-1} = F_{k-1}^{-1} - c u_k u_k^T / (1 + c g_k^T u_k)``, starting from
    ``F_0^{-1} = I / damping`` (Singh & Alistarh, WoodFisher, 2020). Costs
    O(m^2 P) time and O(m P) memory for m gradients of P parameters.
    """
    if damping <= 0.0:
        raise ValueError("WoodFisher needs a positive damping (the empirical Fisher alone is singular)")
    m = gradients.shape[0]
    us = torch.zeros_like(gradients)
    weights = torch.zeros(m, dtype=gradients.dtype)  # c / (1 + c g_k^T u_k)

    def apply_inverse(w: torch.Tensor, k: int) -> torch.Tensor:
        """F_k^{-1} w using the first k updates."""
        out = w / damping
        if k:
            out -= us[:k].T @ (weights[:k] * (us[:k] @ w))
        return out

    for k in range(m):
        g = gradients[k]
        u = apply_inverse(g, k)
        us[k] = u
        weights[k] = coefficient / (1.0 + coefficient * float(g @ u))
    return apply_inverse(v, m)
