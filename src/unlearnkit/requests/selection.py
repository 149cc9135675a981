"""Choosing a request's hyper-parameters without a retrained model: ``unlearn(..., select="oracle_free")``.

The method's configured setting (the given hyper-parameters, defaults for
the rest) and up to ``budget - 1`` seeded grid points of its search space are
each run on the caller's model and scored by the oracle-free score
(:mod:`unlearnkit.metrics.oracle_free`): the forget examples' losses against
those of the caller's ``validation`` examples (never trained on, so to a
model retrained without the forget set they are alike), validation and
retain accuracy against the original's. A setting whose validation utility
is more than ``tolerance`` (default 5 %) of the original's below it, beyond
two standard errors, is not selectable. The request then runs with the
selected setting exactly as a call naming those hyper-parameters would (the
same seed; the trial models are discarded). The original's training time is
not known to the library: the score has a time term (the method's seconds
over the original's training seconds, weighted as in ``tune --oracle-free``)
only when the caller gives it as ``training_seconds``, and none otherwise.

The kind's request adapter built the kind, resolved experiment and prepared
data (:mod:`unlearnkit.requests.run`); the selection reuses them
(:func:`unlearnkit.experiment.oracle_free.select_recipe_oracle_free`), one
code path for every kind.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from unlearnkit.errors import InvalidParameterError, SplitError, UnsuitableSettingError
from unlearnkit.experiment.oracle_free import OracleFreeSelection, OracleFreeTrial, select_recipe_oracle_free
from unlearnkit.kinds.schema import MethodEntry
from unlearnkit.metrics.oracle_free import DEFAULT_TOLERANCE, SCORE_VERSION, check_tolerance, check_training_seconds
from unlearnkit.requests.base import RequestPlan, request_config

ORACLE_FREE = "oracle_free"
DEFAULT_BUDGET = 6  # the configured setting and 5 grid points: a few times the method's cost, not a sweep


@dataclass(frozen=True)
class SelectionOptions:
    """How ``select='oracle_free'`` chooses: settings tried, utility a setting may lose, the original's training seconds.

    ``training_seconds`` None leaves the score's time term out.
    """

    budget: int = DEFAULT_BUDGET
    tolerance: float = DEFAULT_TOLERANCE
    training_seconds: float | None = None


def check_selection(select: Any, *, budget: Any, tolerance: Any, training_seconds: Any) -> SelectionOptions | None:
    """The selection's options (None: no selection); refuses an unknown ``select``, a bad option, or an option without it."""
    options = {"budget": budget, "tolerance": tolerance, "training_seconds": training_seconds}
    if select is None:
        for name, value in options.items():
            if value is not None:
                raise InvalidParameterError(f"{name}: only read with select='oracle_free' (--select oracle-free); got {name}={value!r}")
        return None
    if select != ORACLE_FREE:
        raise InvalidParameterError(f"select: the only selection is 'oracle_free' (--select oracle-free); got {select!r}")
    if budget is not None and (isinstance(budget, bool) or not isinstance(budget, int) or budget < 1):
        raise InvalidParameterError(f"budget: the number of settings to try, an integer of at least 1; got {budget!r}")
    return SelectionOptions(
        budget=DEFAULT_BUDGET if budget is None else budget,
        tolerance=DEFAULT_TOLERANCE if tolerance is None else check_tolerance(tolerance),
        training_seconds=None if training_seconds is None else check_training_seconds(training_seconds),
    )


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
    """One trial as plain JSON values (a failed trial has no seconds, score or time term; the term is 0 without training seconds)."""
    score = trial.score
    return {
        "params": trial.params,
        "seconds": _finite(trial.seconds),
        "score": None if score is None else _finite(score.total),
        "feasible": score is not None and score.feasible,
        "why_not": trial.failure if score is None else score.why_not,
        "time_term": None if score is None else score.time_term,
        "criteria": None if score is None else dataclasses.asdict(score.criteria),
    }


def selection_record(selection: OracleFreeSelection, options: SelectionOptions, seed: int) -> dict[str, Any]:
    """What the result and the audit record keep of a selection: the options, the chosen setting and every trial's score."""
    return {
        "criterion": ORACLE_FREE,
        "score_version": SCORE_VERSION,
        "budget": options.budget,
        "seed": seed,
        "tolerance": options.tolerance,
        "training_seconds": options.training_seconds,
        "chosen": selection.params,
        "score": _finite(selection.score),
        "seconds": sum(trial.seconds for trial in selection.trials if math.isfinite(trial.seconds)),
        "trials": [trial_record(trial) for trial in selection.trials],
    }


def select_oracle_free(plan: RequestPlan, options: SelectionOptions, seed: int) -> tuple[RequestPlan, dict[str, Any]]:
    """The plan with the selected hyper-parameters, and the selection's record; raises when no setting is selectable."""
    selection = select_recipe_oracle_free(
        plan.kind, plan.resolved, plan.prepared, plan.original, plan.method, budget=options.budget, seed=seed,
        training_seconds=options.training_seconds, tolerance=options.tolerance,
    )
    if selection.params is None:
        reasons = "; ".join(
            f"{trial.params}: {trial.failure if trial.score is None else trial.score.why_not}" for trial in selection.trials
        )
        raise UnsuitableSettingError(
            f"select='oracle_free': none of the {len(selection.trials)} settings tried is selectable ({reasons}); "
            "raise the budget or the tolerance, or choose another method"
        )
    return with_params(plan, selection.params), selection_record(selection, options, seed)
