"""Choosing one method's recipe for one model without any retrained model: what a deletion request can use.

:func:`select_recipe_oracle_free` runs the candidate settings ``tune`` would
try (:func:`unlearnkit.experiment.tuning.candidates`) on the caller's model
and scores each by the oracle-free score
(:mod:`unlearnkit.metrics.oracle_free`): the forget set against
never-trained samples of its distribution, utility against the original,
time. Nothing is stored and no model is trained from scratch; test data is
never read.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from torch import nn

from unlearnkit.errors import InvalidParameterError
from unlearnkit.experiment.keys import derive_seed
from unlearnkit.experiment.tuning import OracleFree, candidates, run_trial
from unlearnkit.kinds.base import ExperimentKind, Prepared, ResolvedExperiment
from unlearnkit.methods.base import UnlearningMethod
from unlearnkit.metrics.oracle_free import DEFAULT_TOLERANCE, OracleFreeScore
from unlearnkit.progress import Progress, SilentProgress


@dataclass(frozen=True)
class OracleFreeTrial:
    """One candidate setting: its parameters, seconds, and score (None when the method failed on this model)."""

    params: dict[str, Any]
    seconds: float
    score: OracleFreeScore | None
    failure: str | None = None


@dataclass(frozen=True)
class OracleFreeSelection:
    """The selected parameters (None when no candidate was selectable), their score, and every trial in order."""

    params: dict[str, Any] | None
    score: float
    trials: list[OracleFreeTrial]


def select_recipe_oracle_free(
    kind: ExperimentKind[Any, Any],
    resolved: ResolvedExperiment,
    prepared: Prepared[Any],
    original: nn.Module,
    method: UnlearningMethod,
    *,
    budget: int,
    seed: int,
    training_seconds: float | None = None,
    tolerance: float = DEFAULT_TOLERANCE,
    progress: Progress | None = None,
) -> OracleFreeSelection:
    """Try ``method``'s configured setting and up to ``budget - 1`` points of its search space on ``original``; keep the best.

    ``seed`` draws the grid sample and seeds every trial's unlearning run
    (``derive_seed(seed, "unlearn")``, as ``tune`` does), so the selection is
    deterministic. ``training_seconds`` is the original's training time (the
    score's time unit; None leaves time out). A candidate that is not
    feasible (validation shows it lost more than ``tolerance`` of the
    original's validation utility, beyond two standard errors), or fails on
    this model (diverges, unsuitable setting), is tried and reported but not
    selected; when none is selectable ``params`` is None and ``score`` is inf.
    ``original`` is never modified.
    """
    if budget < 1:
        raise InvalidParameterError(f"budget must be at least 1; got {budget}")
    if method.original == "own":
        raise InvalidParameterError(
            f"{type(method).__name__} unlearns from an original of its own (a sharded ensemble), not from the given model"
        )
    progress = progress or SilentProgress()
    criterion = OracleFree(kind, resolved, prepared, kind.outputs(original, prepared), training_seconds, tolerance)
    trials = []
    for params in candidates(method, budget, seed):
        outputs, seconds, failure = run_trial(
            kind, resolved, prepared, original, type(method).from_params(params), derive_seed(seed, "unlearn"), progress
        )
        score = None if outputs is None else criterion.evaluate(outputs, seconds)
        trials.append(OracleFreeTrial(params, seconds, score, failure))
    selectable = [(trial, trial.score) for trial in trials if trial.score is not None and trial.score.feasible]
    if not selectable:
        return OracleFreeSelection(None, float("inf"), trials)
    best, best_score = min(selectable, key=lambda pair: pair[1].total)
    return OracleFreeSelection(best.params, best_score.total, trials)
