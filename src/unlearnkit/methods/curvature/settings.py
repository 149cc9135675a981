"""Solver hyper-parameters, declared once for every method that inverts a curvature.

Methods spread these dicts into their ``parameter_constraints`` (and take
the same names in their constructors), then hand the validated values to
the solvers as the small frozen records below, so a solver never
re-validates and a parameter means the same thing in every method.
"""

from __future__ import annotations

from dataclasses import dataclass

from unlearnkit.params import Constraint, Interval

CG_PARAMETERS: dict[str, Constraint] = {
    # added to the curvature of the *mean* training loss (so it does not scale with the data size)
    "damping": Interval(float, 0.0, None),
    "cg_max_iter": Interval(int, 1, 100_000),
    # relative residual |b - A x| / |b| at which CG stops
    "cg_tol": Interval(float, 0.0, 1.0, "neither"),
}

ADAM_PARAMETERS: dict[str, Constraint] = {
    "adam_lr": Interval(float, 0.0, None, "neither"),
    "adam_steps": Interval(int, 1, 100_000),
    "adam_patience": Interval(int, 1, 10_000),
}


@dataclass(frozen=True)
class CGSettings:
    """Validated values of :data:`CG_PARAMETERS`."""

    damping: float
    max_iter: int
    tol: float


@dataclass(frozen=True)
class AdamSettings:
    """Validated values of :data:`ADAM_PARAMETERS`."""

    lr: float
    steps: int
    patience: int
