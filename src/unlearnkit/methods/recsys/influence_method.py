"""The base of recommender influence methods: solver parameters, set-up apart, one request."""

from __future__ import annotations

from typing import Any, ClassVar

from unlearnkit.methods.curvature import AdamSettings, CGSettings
from unlearnkit.methods.recsys.basic import require_recommender
from unlearnkit.methods.recsys.influence import (
    InfluenceSettings,
    influence_update,
    prepare,
)
from unlearnkit.methods.recsys.solver import SOLVER_PARAMETERS, SolverConfig
from unlearnkit.methods.recsys.task import RecommendationMethod, RecommendationTask
from unlearnkit.models.recsys.embedding import Recommender
from unlearnkit.params import Constraint


class InfluenceMethod(RecommendationMethod):
    """Holds the :data:`~unlearnkit.methods.recsys.solver.SOLVER_PARAMETERS` and runs the influence operator.

    Diagnostics report ``setup_seconds`` (work that depends only on the
    model and its training rows, reusable across deletion requests: the
    training index, the model's graph, the per-row curvature state when it
    spans all rows) apart from ``request_seconds`` (everything that depends
    on the forget rows: selection, new graph, gradients, solve, writes).
    Nothing is cached between calls: every call pays its own set-up, so its
    time does not depend on what ran before.
    """

    solver: str
    curvature: str
    preconditioner: str
    damping: float
    cg_tol: float
    cg_max_iter: int
    adam_lr: float
    adam_steps: int
    adam_patience: int
    parameter_constraints: ClassVar[dict[str, Constraint]] = SOLVER_PARAMETERS

    def solver_config(self) -> SolverConfig:
        # "auto": the diagonal preconditioner for the positive semi-definite Gauss-Newton matrix; none for
        # the exact Hessian, whose negative-curvature truncation is better behaved without it.
        preconditioner = self.preconditioner
        if preconditioner == "auto":
            preconditioner = "diagonal" if self.curvature == "gauss_newton" else "none"
        return SolverConfig(
            self.solver,
            self.curvature,
            preconditioner,
            CGSettings(self.damping, self.cg_max_iter, self.cg_tol),
            AdamSettings(self.adam_lr, self.adam_steps, self.adam_patience),
        )

    def run_influence(self, model: Any, task: RecommendationTask, settings: InfluenceSettings) -> tuple[Recommender, dict[str, Any]]:
        """Set-up, then the influence step on ``model`` (the private copy ``unlearn`` made)."""
        rec = require_recommender(model, type(self).__name__)
        split = task.split
        preparation = prepare(rec, task.data, split.train, task.train_spec.l2, settings)
        diagnostics = influence_update(
            rec, task.data, split.train, split.forget, split.validation,
            l2=task.train_spec.l2, settings=settings, preparation=preparation,
            initial_rows=lambda count: task.model_builder.initial_rows(count, task.generator),
        )
        return rec, diagnostics
