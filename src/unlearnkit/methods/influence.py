"""Influence unlearning: one Newton step that removes the forget set's contribution.

Training minimises ``J_D(theta) = (1/n) sum_{z in D} l(z; theta) + (l2/2)|theta|^2``
(``l2`` is the recipe's weight decay, which SGD and Adam apply as L2). Dropping
the forget terms but keeping the regulariser gives ``J_r``; because
``grad J_D(theta0) = 0`` at the original optimum, one Newton step on ``J_r`` is

    theta_u = theta0 + H^{-1} (1/n) sum_{z in D_f} grad l(z; theta0),
    H = (1/n) sum_{z in D_r} Hessian l(z; theta0) + l2 * I       (hessian_set="retain")

which is exact up to second-order terms (exact for a quadratic loss). Note the
leave-out solution this targets is ``argmin J_r``: the regulariser keeps its
weight relative to the *sum* of losses, so it is not the "same recipe on D_r"
model, whose L2 weight per sample is larger by n/n_r. ``hessian_set="train"``
uses the Hessian over D (the classical infinitesimal influence function of
Koh & Liang). ``damping`` is added to H (needed for indefinite deep-network
Hessians) and ``scale`` multiplies the step (the tuned alpha of
``OPTML-Group/Unlearn-Sparse``).

Solvers: ``"cg"`` runs conjugate gradient with exact Hessian-vector products
(``torch.func`` forward-over-reverse); ``"woodfisher"`` replaces the data
Hessian by the empirical Fisher of ``woodfisher_samples`` per-example
gradients from the Hessian set, inverted by rank-one Woodbury updates (a
correct form of ``Unlearn-Sparse/unlearn/Wfisher.py``, whose recursion keeps
only the first gradient's direction and subtracts the retain-gradient mean).
``hessian_samples`` estimates the Hessian from a random subset of the
Hessian set (drawn once from ``task.generator`` so CG sees a fixed operator);
``batch_size`` only chunks the computation. WoodFisher holds
``woodfisher_samples`` x parameters floats; ``last_blocks`` restricts the
update to the last blocks of ``model.blocks()`` for large networks.
Either way the relative residual of the step against the damped exact Hessian
is recorded. Deep-network Hessians are indefinite: if CG meets non-positive
curvature the method raises, naming ``damping``, instead of returning the
truncated iterate (on the test CNN the smallest eigenvalue of the mean-loss
Hessian is about -0.011, hence the default damping 0.03).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from unlearnkit.errors import InvalidParameterError, UnsuitableSettingError
from unlearnkit.methods.base import UnlearningMethod, UnlearnTask
from unlearnkit.methods.curvature import (
    CG_PARAMETERS,
    DampedOperator,
    conjugate_gradient,
    woodfisher_solve,
)
from unlearnkit.methods.flat_loss import FlatLoss, index_chunks, parameter_names
from unlearnkit.params import Interval, NoneOr, Options


class InfluenceUnlearning(UnlearningMethod):
    """Newton step ``theta0 + scale * (H + damping*I)^{-1} (1/n) sum_forget grad l`` (CG or WoodFisher)."""

    description = "influence unlearning: one Newton step removing the forget set (CG or WoodFisher inverse)"
    parameter_constraints = {
        "scale": Interval(float, 0.0, None, "neither"),
        "solver": Options(("cg", "woodfisher")),
        "hessian_set": Options(("retain", "train")),
        "last_blocks": NoneOr(Interval(int, 1, None)),
        "l2": NoneOr(Interval(float, 0.0, None)),
        "woodfisher_samples": Interval(int, 1, None),
        "hessian_samples": NoneOr(Interval(int, 1, None)),
        "batch_size": Interval(int, 1, None),
        **CG_PARAMETERS,
    }
    search_space = {
        "scale": [0.1, 0.3, 1.0, 3.0, 10.0],
        "damping": [1e-3, 1e-2, 1e-1],
        "solver": ["cg", "woodfisher"],
        "last_blocks": [None, 1, 2],
    }

    def __init__(
        self,
        *,
        scale: float = 1.0,
        damping: float = 0.03,
        solver: str = "cg",
        hessian_set: str = "retain",
        last_blocks: int | None = None,
        l2: float | None = None,
        cg_max_iter: int = 100,
        cg_tol: float = 1e-4,
        woodfisher_samples: int = 256,
        hessian_samples: int | None = None,
        batch_size: int = 256,
    ) -> None:
        self.scale = scale
        self.damping = damping
        self.solver = solver
        self.hessian_set = hessian_set
        self.last_blocks = last_blocks
        self.l2 = l2
        self.cg_max_iter = cg_max_iter
        self.cg_tol = cg_tol
        self.woodfisher_samples = woodfisher_samples
        self.hessian_samples = hessian_samples
        self.batch_size = batch_size

    def _unlearn(self, model: nn.Module, task: UnlearnTask) -> tuple[nn.Module, dict[str, Any]]:
        model.eval()
        loss = FlatLoss(model, parameter_names(model, self.last_blocks))
        n = len(task.split.train)
        l2 = task.train_spec.weight_decay if self.l2 is None else self.l2
        x_forget, y_forget = task.forget
        rhs = loss.grad_sum(loss.theta0, x_forget, y_forget, self.batch_size) / n

        x_h, y_h = task.retain if self.hessian_set == "retain" else task.subset(task.split.train)
        set_size = len(y_h)
        if self.hessian_samples is not None and self.hessian_samples < set_size:
            pick = torch.randperm(set_size, generator=task.generator)[: self.hessian_samples]
            x_h, y_h = x_h[pick], y_h[pick]

        def data_curvature(v: torch.Tensor) -> torch.Tensor:
            # sum over the (sub)sample, rescaled to the set's share of the mean over D
            return loss.hvp_sum(loss.theta0, v, x_h, y_h, self.batch_size) * (set_size / (len(y_h) * n))

        # the L2 term's curvature is l2 * I, so it joins the damping as one shift
        hessian_vector = DampedOperator(data_curvature, l2 + self.damping)
        diagnostics: dict[str, Any] = {"solver": self.solver, "parameters": loss.size, "hessian_samples": len(y_h)}
        if self.solver == "cg":
            result = conjugate_gradient(hessian_vector, rhs, max_iter=self.cg_max_iter, tol=self.cg_tol)
            if result.truncated:
                # the truncated iterate can be arbitrarily bad; refuse rather than return it
                raise UnsuitableSettingError(
                    f"the 'damping' parameter of InfluenceUnlearning ({self.damping}) is too small for this model: "
                    f"conjugate gradient met non-positive curvature of the damped Hessian at iteration "
                    f"{result.iterations}; increase damping (or restrict last_blocks)"
                )
            step = result.x
            diagnostics.update(result.diagnostics())
        else:
            step = self._woodfisher_step(loss, task, rhs, l2, n)
            diagnostics["woodfisher_samples"] = min(self.woodfisher_samples, set_size)

        rhs_norm = float(rhs.norm())
        residual = float((hessian_vector(step) - rhs).norm())
        diagnostics.update(
            gradient_norm=rhs_norm,
            residual_norm=residual,
            # undefined when the right-hand side is zero (the step is then exactly zero)
            relative_residual=residual / rhs_norm if rhs_norm > 0 else None,
            step_norm=float(self.scale * step.norm()),
        )
        loss.write(loss.theta0 + self.scale * step)
        return model, diagnostics

    def _woodfisher_step(self, loss: FlatLoss, task: UnlearnTask, rhs: torch.Tensor, l2: float, n: int) -> torch.Tensor:
        if l2 + self.damping <= 0.0:
            raise InvalidParameterError("solver 'woodfisher' needs damping + l2 > 0 (the empirical Fisher is singular)")
        x_s, y_s = task.retain if self.hessian_set == "retain" else task.subset(task.split.train)
        set_size = len(y_s)
        m = min(self.woodfisher_samples, set_size)
        pick = torch.randperm(set_size, generator=task.generator)[:m]
        grads = torch.cat(
            [loss.per_example_grads(loss.theta0, x_s[pick[part]], y_s[pick[part]]).detach() for part in index_chunks(m, self.batch_size)]
        )
        # (1/n) sum over the set of g g^T, estimated from m samples
        return woodfisher_solve(grads, set_size / (m * n), l2 + self.damping, rhs)
