"""The inverse-curvature step of recommender influence methods: settings and dispatch.

The parameters (solver, curvature, preconditioner, damping, CG and Adam
settings) are declared once here, from the shared declarations of
:mod:`unlearnkit.methods.curvature`, and used by ``influence_rec``, ``ifru``
and ``scif`` alike (through :class:`~unlearnkit.methods.recsys.influence_method.InfluenceMethod`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from unlearnkit.errors import InvalidParameterError
from unlearnkit.methods.curvature import (
    ADAM_PARAMETERS,
    CG_PARAMETERS,
    AdamSettings,
    CGSettings,
    DampedOperator,
    adam_quadratic,
    conjugate_gradient,
    pseudo_inverse_solve,
)
from unlearnkit.methods.recsys.gauss_newton import CurvatureProduct
from unlearnkit.params import Constraint, Options

EXACT_SOLVER_MAX_PARAMETERS = 5000

SOLVER_PARAMETERS: dict[str, Constraint] = {
    "solver": Options(("cg", "adam", "exact")),
    "curvature": Options(("hessian", "gauss_newton")),
    "preconditioner": Options(("auto", "diagonal", "block", "none")),
    **CG_PARAMETERS,
    **ADAM_PARAMETERS,
}


@dataclass(frozen=True)
class SolverConfig:
    kind: str  # "cg", "adam" or "exact"
    curvature: str  # "hessian" or "gauss_newton"
    preconditioner: str  # "block" (per-node Gauss-Newton blocks), "diagonal" or "none" ("auto" resolved)
    cg: CGSettings
    adam: AdamSettings

    @property
    def damping(self) -> float:
        return self.cg.damping


def make_preconditioner(
    product: CurvatureProduct, solver: SolverConfig
) -> Callable[[torch.Tensor], torch.Tensor] | None:
    if solver.preconditioner == "block":
        return product.block_preconditioner(solver.damping)
    if solver.preconditioner == "diagonal":
        return product.diagonal_preconditioner(solver.damping)
    return None


def solve(
    product: CurvatureProduct,
    b: torch.Tensor,
    solver: SolverConfig,
    validation_auc: Callable[[torch.Tensor], float] | None,
) -> tuple[torch.Tensor, dict[str, Any]]:
    """x ~= (G + damping I)^-1 b with the configured solver, and its diagnostics.

    ``validation_auc`` scores a candidate update; "adam" needs it, the others ignore it.
    CG reports its relative residual |b - Ax| / |b| (the recursively updated
    one, which equals the true residual up to rounding); for the other
    solvers the caller computes it.
    """
    operator = DampedOperator(product, solver.damping)
    if solver.kind == "cg":
        cg = conjugate_gradient(
            operator, b, tol=solver.cg.tol, max_iter=solver.cg.max_iter, preconditioner=make_preconditioner(product, solver)
        )
        return cg.x, {"solver_iterations": cg.iterations, "negative_curvature": cg.truncated, "relative_residual": cg.relative_residual}
    if solver.kind == "exact":
        if b.numel() > EXACT_SOLVER_MAX_PARAMETERS:
            raise InvalidParameterError(
                f"solver='exact' builds the full Hessian and allows at most {EXACT_SOLVER_MAX_PARAMETERS} "
                f"parameters; this request selects {b.numel()} (use solver='cg')"
            )
        # Column by column from the same damped product: forward-mode AD, which
        # torch.func.hessian uses, has no sparse matmul.
        return pseudo_inverse_solve(operator, b), {"solver_iterations": 1}
    if validation_auc is None:
        raise ValueError("solver='adam' needs a validation_auc scorer")
    adam = adam_quadratic(operator, b, solver.adam, validation_auc)
    return adam.x, {
        "solver_iterations": adam.steps,
        "adam_best_step": adam.best_step,
        "adam_best_validation_auc": adam.best_score,
    }
