"""IFRU's inverse-curvature solver: Adam on the quadratic model, early-stopped on a validation score."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from unlearnkit.methods.curvature.settings import AdamSettings


@dataclass(frozen=True)
class AdamResult:
    x: torch.Tensor  # the best-scoring iterate (possibly zero: no update at all)
    steps: int  # Adam steps taken
    best_step: int  # 0 when no step improved on x = 0
    best_score: float


def adam_quadratic(
    operator: Callable[[torch.Tensor], torch.Tensor],
    b: torch.Tensor,
    settings: AdamSettings,
    score: Callable[[torch.Tensor], float],
) -> AdamResult:
    """Adam on q(x) = 0.5 x'Ax - b'x (gradient Ax - b) from x = 0, keeping the iterate with the best ``score``.

    ``score`` (higher is better, e.g. validation AUC of the update) is
    evaluated after every step; the iteration stops after
    ``settings.patience`` steps without improvement. This is the solver of
    ``baiyimeng/IFRU`` (``compute_hessian_with_test``): it needs no positive
    definite ``A``, but its answer depends on the step size and the score.
    """
    x = torch.zeros_like(b, requires_grad=True)
    optimizer = torch.optim.Adam([x], lr=settings.lr)
    best_score, best_step, best = score(torch.zeros_like(b)), 0, torch.zeros_like(b)
    stale, steps = 0, 0
    for step in range(1, settings.steps + 1):
        with torch.no_grad():
            x.grad = operator(x.detach()) - b
        optimizer.step()
        steps = step
        current = score(x.detach())
        if current > best_score:
            best_score, best_step, best, stale = current, step, x.detach().clone(), 0
        else:
            stale += 1
            if stale >= settings.patience:
                break
    return AdamResult(best, steps, best_step, best_score)
