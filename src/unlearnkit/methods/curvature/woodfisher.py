"""The inverse of a damped empirical Fisher by rank-one Woodbury updates (WoodFisher)."""

from __future__ import annotations

import torch


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
