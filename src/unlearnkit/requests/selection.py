"""Choosing a request's hyper-parameters without a retrained model: ``unlearn(..., select="oracle_free")``.

The method's configured setting (the given hyper-parameters, defaults for
the rest) and up to ``budget - 1`` seeded grid points of its search space are
each run on the caller's model and scored by the oracle-free score
(:mod:`unlearnkit.metrics.oracle_free`): the forget examples' losses against
those of the caller's ``validation`` examples (never trained on, so to a
model retrained without the forget set they are alike), validation and
retain accuracy against the original's. The request then runs with the
selected setting exactly as a call naming those hyper-parameters would (the
same seed; the trial models are discarded). The original's training time is
unknown here, so the score has no time term.

The kind's request adapter built the kind, resolved experiment and prepared
data (:mod:`unlearnkit.requests.run`); the selection reuses them
(:func:`unlearnkit.experiment.oracle_free.select_recipe_oracle_free`), one
code path for every kind.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from unlearnkit.errors import InvalidParameterError, SplitError, UnsuitableSettingError
from unlearnkit.experiment.oracle_free import OracleFreeSelection, OracleFreeTrial, select_recipe_oracle_free
from unlearnkit.kinds.schema import MethodEntry
from unlearnkit.metrics.oracle_free import DEFAULT_TOLERANCE, SCORE_VERSION
from unlearnkit.requests.base import RequestPlan, request_config

ORACLE_FREE = "oracle_free"
DEFAULT_BUDGET = 6  # the configured setting and 5 grid points: a few times the method's cost, not a sweep


def check_selection(select: Any, budget: Any) -> int | None:
    """The budget to select with (None: no selection); refuses an unknown ``select`` or a bad ``budget``."""
    if select is None:
        if budget is not None:
            raise InvalidParameterError(f"budget: only read with select='oracle_free' (--select oracle-free); got budget={budget!r}")
        return None
    if select != ORACLE_FREE:
        raise InvalidParameterError(f"select: the only selection is 'oracle_free' (--select oracle-free); got {select!r}")
    if budget is None:
        return DEFAULT_BUDGET
    if isinstance(budget, bool) or not isinstance(budget, int) or budget < 1:
        raise InvalidParameterError(f"budget: the number of settings to try, an integer of at least 1; got {budget!r}")
    return budget


def check_selectable(plan: RequestPlan, validation_given: bool) -> None:
    """Refuse, before anything runs, a request the oracle-free selection cannot score."""
    name = plan.resolved.methods[0][0]
    if not validation_given:
        raise InvalidParameterError(
            "validation: select='oracle_free' compares the forget examples with examples of the same distribution the "
            "model never trained on, and reads validation accuracy; give validation data (none was given)"
        )
    if not type(plan.method).search_space:
        raise InvalidParameterError(
            f"method {name!r} has no hyper-parameter search space, so select='oracle_free' has nothing to choose; "
            "leave select out or choose a method that has one"
        )
    try:
        plan.kind.check_oracle_free(plan.resolved, plan.prepared)
    except SplitError as error:
        raise InvalidParameterError(
            "validation: too small for select='oracle_free', which needs at least 2 never-trained examples of the "
            "forget set's distribution (for deleted users: validation rows of those users) and validation utility to "
            f"measure; got {int(plan.prepared.split.validation.size)} validation example(s)"
        ) from error


def with_params(plan: RequestPlan, params: dict[str, Any]) -> RequestPlan:
    """``plan`` with its method rebuilt from ``params`` (data, split and model unchanged)."""
    name = plan.resolved.methods[0][0]
    instance = type(plan.method).from_params(params, name)
    config = request_config(plan.kind, MethodEntry(name=name, **params), plan.resolved.config.seeds[0])
    return dataclasses.replace(plan, resolved=dataclasses.replace(plan.resolved, config=config, methods=[(name, instance)]))


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def trial_record(trial: OracleFreeTrial) -> dict[str, Any]:
    """One trial as plain JSON values (a failed trial has no seconds and no score)."""
    score = trial.score
    return {
        "params": trial.params,
        "seconds": _finite(trial.seconds),
        "score": None if score is None else _finite(score.total),
        "feasible": score is not None and score.feasible,
        "why_not": trial.failure if score is None else score.why_not,
        "criteria": None if score is None else dataclasses.asdict(score.criteria),
    }


def selection_record(selection: OracleFreeSelection, budget: int, seed: int) -> dict[str, Any]:
    """What the result and the audit record keep of a selection: the chosen setting and every trial's score."""
    return {
        "criterion": ORACLE_FREE,
        "score_version": SCORE_VERSION,
        "budget": budget,
        "seed": seed,
        "tolerance": DEFAULT_TOLERANCE,
        "chosen": selection.params,
        "score": _finite(selection.score),
        "seconds": sum(trial.seconds for trial in selection.trials if math.isfinite(trial.seconds)),
        "trials": [trial_record(trial) for trial in selection.trials],
    }


def select_oracle_free(plan: RequestPlan, budget: int, seed: int) -> tuple[RequestPlan, dict[str, Any]]:
    """The plan with the selected hyper-parameters, and the selection's record; raises when no setting is selectable."""
    selection = select_recipe_oracle_free(
        plan.kind, plan.resolved, plan.prepared, plan.original, plan.method, budget=budget, seed=seed
    )
    if selection.params is None:
        reasons = "; ".join(
            f"{trial.params}: {trial.failure if trial.score is None else trial.score.why_not}" for trial in selection.trials
        )
        raise UnsuitableSettingError(
            f"select='oracle_free': none of the {len(selection.trials)} settings tried is selectable ({reasons}); "
            "raise the budget or choose another method"
        )
    return with_params(plan, selection.params), selection_record(selection, budget, seed)
