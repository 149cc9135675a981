"""Curvature: damped operators and inverse-curvature solvers shared by every influence method.

One damped operator type (:class:`DampedOperator`, ``v -> (A + damping I) v``
over a flat parameter vector), one preconditioned conjugate gradient with
negative-curvature truncation (:func:`conjugate_gradient`), the other
inverse solvers the methods offer (WoodFisher, IFRU's Adam, a dense
pseudo-inverse for tests) and the solver hyper-parameters, declared once
(:mod:`unlearnkit.methods.curvature.settings`). Image influence,
``influence_rec``, ``ifru`` and ``scif`` all go through this package.
"""

from unlearnkit.methods.curvature.adam import AdamResult, adam_quadratic
from unlearnkit.methods.curvature.cg import SolveResult, StopReason, conjugate_gradient
from unlearnkit.methods.curvature.dense import dense_matrix, pseudo_inverse_solve
from unlearnkit.methods.curvature.operator import DampedOperator, Product
from unlearnkit.methods.curvature.settings import (
    ADAM_PARAMETERS,
    CG_PARAMETERS,
    AdamSettings,
    CGSettings,
)
from unlearnkit.methods.curvature.woodfisher import woodfisher_solve

__all__ = [
    "ADAM_PARAMETERS",
    "CG_PARAMETERS",
    "AdamResult",
    "AdamSettings",
    "CGSettings",
    "DampedOperator",
    "Product",
    "SolveResult",
    "StopReason",
    "adam_quadratic",
    "conjugate_gradient",
    "dense_matrix",
    "pseudo_inverse_solve",
    "woodfisher_solve",
]
