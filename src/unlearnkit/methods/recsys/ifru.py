"""IFRU (arXiv 2307.02147) and the direct-influence baseline, over MF and LightGCN."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from torch import nn

from unlearnkit.methods.recsys.influence import InfluenceSettings
from unlearnkit.methods.recsys.influence_method import InfluenceMethod
from unlearnkit.methods.recsys.solver import SOLVER_PARAMETERS
from unlearnkit.methods.recsys.task import RecommendationTask
from unlearnkit.params import Boolean, Constraint, Interval, NoneOr, Options


class Ifru(InfluenceMethod):
    """IFRU: influence of the forgotten rows plus their spillover through the graph, near the forget rows.

    * ``k_hops``/``keep_quantile``: which embedding rows move. The update is
      restricted to the nodes reached ``k_hops`` hops from the forget rows'
      users and items (default 1); IFRU's importance pruning (count/degree
      scores propagated over those hops, keeping the nodes above the
      ``keep_quantile`` quantile of the reached scores) is **off by
      default** (None: every reached node moves). IFRU's scripts use k_hops 1,
      with quantile 0.4 for LightGCN and no quantile for MF.
    * ``spillover``: add the loss change of remaining rows of users/items whose
      positive degree drops by more than ``degree_change_ratio`` (graph
      models only; MF has no graph).
    * ``solver``: "cg" (damped conjugate gradient, default: no per-dataset
      step size), "adam" (IFRU's code: Adam on 0.5 p'Hp - g'p, early-stopped
      on validation AUC; ``adam_lr`` is on the parameters' scale, IFRU's
      ``if_lr`` divided by the number of training rows; set damping 0 for
      the official undamped version), "exact" (explicit Hessian, small models).
    * ``damping`` (added to the curvature of the *mean* loss): 1e-5. Chosen on
      validation data (ML-100K, 5 % flipped, a split and seeds not used by the
      benchmark) among 1e-4, 1e-5 and 0: one step closed 34 / 49 / 53 % of the
      validation-AUC gap for MF and 42 / 60 / 59 % for LightGCN. With the
      training L2 the Gauss-Newton matrix is already positive definite, and
      1e-4 is as large as the L2 curvature of a typical node (l2 * 50 rows /
      60k rows), halving the step. Models trained without L2 may need 1e-4.
    * ``preconditioner``: "diagonal" (Jacobi) divides by the Gauss-Newton
      diagonal: on ML-100K MF it cuts CG from 12 to 5 iterations (41 to 6
      undamped) for the cost of one scatter. "block" uses the d x d diagonal
      blocks (an ALS step; 4 iterations, but building them costs more than it
      saves at this scale). "auto" (default): diagonal with the Gauss-Newton
      curvature, none with the exact Hessian (whose negative-curvature
      truncation behaves better unpreconditioned).
    * ``curvature``: "gauss_newton" (default) replaces the Hessian by the
      generalised Gauss-Newton matrix, which is positive semi-definite; the
      exact "hessian" of an early-stopped BCE recommender is indefinite and
      damped CG at damping 1e-4 then fails to converge (residual > 0.3 after
      100 iterations on ML-100K MF), as data.md section 6 also measured.
    * ``faithful``: the Hessian of the official code, on the ego-embedding
      loss without propagation (LightGCN), while gradients use the graph.
    * ``hessian_on``: "train" (IFRU: mean loss over all training rows on the
      old graph) or "retain" (rows without the forgotten ones, new graph):
      then the update is one Newton step on the retrained objective. On tiny
      converged L2-regularised MFs it is usually closer to exact retraining
      (the forgotten rows' own curvature no longer damps the step) but that
      Hessian is more often indefinite, so it is an option, not the default.
    * ``orphans``: touched users/items left without any training row (a
      deleted user) are not determined by the retained objective. "keep"
      (default, IFRU) leaves them where the influence step puts them (in
      practice near the original, since their full gradient is ~0);
      "reinit" re-draws them from the model builder's initialisation with
      the task's generator, where retraining leaves them.
    * ``newton_steps``: 1 is IFRU's single step. More steps solve the removal
      equation instead of its linearisation (CG only): on ML-100K MF with 5 %
      flipped labels one step closes about half of the validation-AUC gap to
      retraining and each further step adds less (the step is first-order in
      a change that is not small), at the cost of one more solve per step.
    """

    @classmethod
    def combination_problems(cls, params: Mapping[str, Any]) -> list[str]:
        if params["newton_steps"] > 1 and params["solver"] != "cg":
            return ["newton_steps > 1 needs solver='cg'"]
        return []

    description = "IFRU: influence-function unlearning with spillover (importance pruning optional, off by default)"
    parameter_constraints: ClassVar[dict[str, Constraint]] = {
        "k_hops": Interval(int, 0, 5),
        "keep_quantile": NoneOr(Interval(float, 0.0, 1.0, "left")),
        "spillover": Boolean(),
        "degree_change_ratio": Interval(float, 0.0, 1.0, "left"),
        "faithful": Boolean(),
        "hessian_on": Options(("train", "retain")),
        "newton_steps": Interval(int, 1, 100),
        "orphans": Options(("keep", "reinit")),
        **SOLVER_PARAMETERS,
    }
    search_space = {
        "damping": [1e-3, 1e-4, 1e-5],
        "k_hops": [0, 1, 2],
        "keep_quantile": [None, 0.4],
        "curvature": ["gauss_newton", "hessian"],
    }

    def __init__(
        self,
        *,
        k_hops: int = 1,
        keep_quantile: float | None = None,
        spillover: bool = True,
        degree_change_ratio: float = 0.01,
        faithful: bool = False,
        hessian_on: str = "train",
        newton_steps: int = 1,
        orphans: str = "keep",
        solver: str = "cg",
        curvature: str = "gauss_newton",
        preconditioner: str = "auto",
        damping: float = 1e-5,
        cg_tol: float = 1e-3,
        cg_max_iter: int = 100,
        adam_lr: float = 0.1,
        adam_steps: int = 5000,
        adam_patience: int = 10,
    ) -> None:
        self.k_hops = k_hops
        self.keep_quantile = keep_quantile
        self.spillover = spillover
        self.degree_change_ratio = degree_change_ratio
        self.faithful = faithful
        self.hessian_on = hessian_on
        self.newton_steps = newton_steps
        self.orphans = orphans
        self.solver = solver
        self.curvature = curvature
        self.preconditioner = preconditioner
        self.damping = damping
        self.cg_tol = cg_tol
        self.cg_max_iter = cg_max_iter
        self.adam_lr = adam_lr
        self.adam_steps = adam_steps
        self.adam_patience = adam_patience

    def _unlearn(
        self, model: nn.Module, task: RecommendationTask  # type: ignore[override]  # unlearn() admits only task_kinds' tasks
    ) -> tuple[nn.Module, dict[str, Any]]:
        settings = InfluenceSettings(
            k_hops=self.k_hops, keep_quantile=self.keep_quantile, spillover=self.spillover,
            degree_change_ratio=self.degree_change_ratio, ego_hessian=self.faithful,
            hessian_on=self.hessian_on, newton_steps=self.newton_steps, replace_labels="none",
            orphans=self.orphans, solver=self.solver_config(),
        )
        return self.run_influence(model, task, settings)


class InfluenceRec(InfluenceMethod):
    """Direct influence only: the forgotten rows' own gradient, no spillover (the classic influence function).

    Updates the embeddings of the touched users and items (``k_hops`` 0) or
    their k-hop neighbourhood; the Hessian goes through the propagation.
    ``scif`` is the selective, request-scale variant of this update.
    """

    description = "influence-function removal of the forgotten rows only (no spillover)"
    parameter_constraints: ClassVar[dict[str, Constraint]] = {"k_hops": Interval(int, 0, 5), **SOLVER_PARAMETERS}
    search_space = {"damping": [1e-3, 1e-4, 1e-5], "k_hops": [0, 1], "curvature": ["gauss_newton", "hessian"]}

    def __init__(
        self,
        *,
        k_hops: int = 0,
        solver: str = "cg",
        curvature: str = "gauss_newton",
        preconditioner: str = "auto",
        damping: float = 1e-5,
        cg_tol: float = 1e-3,
        cg_max_iter: int = 100,
        adam_lr: float = 0.1,
        adam_steps: int = 5000,
        adam_patience: int = 10,
    ) -> None:
        self.k_hops = k_hops
        self.solver = solver
        self.curvature = curvature
        self.preconditioner = preconditioner
        self.damping = damping
        self.cg_tol = cg_tol
        self.cg_max_iter = cg_max_iter
        self.adam_lr = adam_lr
        self.adam_steps = adam_steps
        self.adam_patience = adam_patience

    def _unlearn(
        self, model: nn.Module, task: RecommendationTask  # type: ignore[override]  # unlearn() admits only task_kinds' tasks
    ) -> tuple[nn.Module, dict[str, Any]]:
        settings = InfluenceSettings(
            k_hops=self.k_hops, keep_quantile=None, spillover=False, degree_change_ratio=0.0, ego_hessian=False,
            hessian_on="train", newton_steps=1, replace_labels="none", orphans="keep", solver=self.solver_config(),
        )
        return self.run_influence(model, task, settings)
