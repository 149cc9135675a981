"""Hyper-parameter selection without test data.

For each method, candidate settings (the configured one plus points of the
method's declared ``search_space``; a seeded random subset when the grid is
larger than the budget) are run on a *tuning seed* that is not one of the
experiment's evaluation seeds, and scored by one of two criteria:

* :class:`ReferenceGap` (default): the kind's selection gap to that seed's
  retrained reference (:meth:`ExperimentKind.selection_gap`: from forget,
  retain and **validation** data);
* :class:`OracleFree` (``tune --oracle-free``): no retrained model is
  trained or loaded; the kind's oracle-free criteria (forget set vs
  never-trained samples of its distribution, utility against the original,
  time) combined into the score of :mod:`unlearnkit.metrics.oracle_free`.

Test and held-out forget samples are never read, so the evaluation that
follows is not tuned on what it reports. Every kind is tuned the same way.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import torch
from torch import nn

from unlearnkit import __version__
from unlearnkit.errors import UnsuitableSettingError
from unlearnkit.experiment.keys import derive_seed, stable_hash
from unlearnkit.experiment.model_cache import ModelCache
from unlearnkit.experiment.runner import Plan, Runner
from unlearnkit.kinds.base import ExperimentKind, Prepared, ResolvedExperiment
from unlearnkit.methods.base import UnlearningMethod
from unlearnkit.methods.registry import METHODS
from unlearnkit.metrics.oracle_free import DEFAULT_TOLERANCE, SCORE_VERSION, OracleFreeScore, oracle_free_score
from unlearnkit.progress import Progress


def candidates(method: UnlearningMethod, budget: int, seed: int) -> list[dict[str, Any]]:
    """The configured parameters first, then up to ``budget - 1`` grid points of the search space.

    The grid points are a seeded sample of the *whole* grid, drawn before the
    configured setting is removed from it, so the sample does not depend on
    what is configured: tuning a config whose recipe came from an earlier
    tuning tries the same points again (stored trials, nothing re-run) and
    selects the same recipe.
    """
    base = method.get_params()
    space = type(method).search_space
    grid = [{**base, **dict(zip(space, values, strict=True))} for values in itertools.product(*space.values())]
    if len(grid) > budget - 1:
        order = np.random.default_rng(seed).permutation(len(grid))[: budget - 1]
        grid = [grid[i] for i in sorted(order)]
    return [base, *(point for point in grid if point != base)]


class Criterion(Protocol):
    """What a trial is scored by: lower is better; ``inf`` with a reason for a setting that may not be selected."""

    @property
    def name(self) -> str:
        """How scores are called in logs, tables and recipe comments."""

    def score(self, outputs: Any, seconds: float) -> tuple[float, str | None]: ...


@dataclass(frozen=True, eq=False)
class ReferenceGap:
    """The kind's validation-only selection gap to a retrained reference's outputs, in points."""

    kind: ExperimentKind[Any, Any]
    prepared: Prepared[Any]
    reference_outputs: Any
    seed: int
    name: str = "selection gap"

    def score(self, outputs: Any, seconds: float) -> tuple[float, str | None]:
        return self.kind.selection_gap(self.prepared, outputs, self.reference_outputs, self.seed), None


@dataclass(frozen=True, eq=False)
class OracleFree:
    """The oracle-free score (:mod:`unlearnkit.metrics.oracle_free`): needs the original's outputs, never a reference.

    ``training_seconds`` is the original's training time (the time term's
    unit; None drops the term). A setting that validation shows to have lost
    more than ``tolerance`` of the original's validation utility (beyond two
    standard errors) scores ``inf`` with the reason.
    """

    kind: ExperimentKind[Any, Any]
    resolved: ResolvedExperiment
    prepared: Prepared[Any]
    original_outputs: Any
    training_seconds: float | None
    tolerance: float = DEFAULT_TOLERANCE
    name: str = "oracle-free score"

    def evaluate(self, outputs: Any, seconds: float) -> OracleFreeScore:
        criteria = self.kind.oracle_free_criteria(self.resolved, self.prepared, outputs, self.original_outputs)
        return oracle_free_score(criteria, seconds, self.training_seconds, self.tolerance)

    def score(self, outputs: Any, seconds: float) -> tuple[float, str | None]:
        scored = self.evaluate(outputs, seconds)
        return (scored.total, None) if scored.feasible else (float("inf"), scored.why_not)


def run_trial(
    kind: ExperimentKind[Any, Any], resolved: ResolvedExperiment, prepared: Prepared[Any], start: nn.Module,
    candidate: UnlearningMethod, unlearn_seed: int, progress: Progress,
) -> tuple[Any, float, str | None]:
    """(outputs, seconds, None) of one setting unlearning ``start``, or (None, inf, why) when it failed on this model.

    Divergence and a setting unsuitable for this model are legitimate
    outcomes of a search, not errors of the tool: the setting is kept as
    tried and never selectable.
    """
    task = kind.task(resolved, prepared, torch.Generator().manual_seed(unlearn_seed), progress)
    kind.warm_up(start, prepared)
    try:
        result = candidate.unlearn(start, task)
    except (FloatingPointError, UnsuitableSettingError) as error:
        return None, float("inf"), str(error)
    return kind.outputs(result.model, prepared), result.seconds, None


@dataclass
class MethodTuning:
    label: str
    method: str
    # A setting slower than this many seconds is tried and reported but not selectable.
    time_limit: float = float("inf")
    trials: list[tuple[dict[str, Any], float, float]] = field(default_factory=list)  # params, score, seconds
    criterion: str = "selection gap"

    @property
    def eligible(self) -> list[tuple[dict[str, Any], float, float]]:
        """Trials that finished (finite gap) within the time limit."""
        return [t for t in self.trials if np.isfinite(t[1]) and t[2] <= self.time_limit]

    @property
    def best(self) -> tuple[dict[str, Any], float, float] | None:
        """The eligible trial with the smallest gap; None when no setting qualifies."""
        eligible = self.eligible
        return min(eligible, key=lambda t: t[1]) if eligible else None


@dataclass
class TuningSetting:
    """The fixed part of every trial on one tuning seed: the starting model, the criterion and what identifies them."""

    plan: Plan
    cache: ModelCache
    original: torch.nn.Module
    criterion: Criterion
    # Retraining's time (oracle: the reference's; oracle-free: the original's training time, its estimate).
    baseline_seconds: float
    tuning_seed: int
    unlearn_seed: int
    key: str  # hash of the models, the split and the criterion the trials are scored by
    progress: Progress

    @classmethod
    def prepare(
        cls, runner: Runner, plan: Plan, tuning_seed: int, progress: Progress, oracle_free: bool = False,
        tolerance: float = DEFAULT_TOLERANCE,
    ) -> TuningSetting:
        """Train (or load from the cache) the tuning seed's original, and its retrained reference unless ``oracle_free``."""
        kind, resolved, prepared = plan.kind, plan.resolved, plan.prepared
        original_seed, unlearn_seed = derive_seed(tuning_seed, "original"), derive_seed(tuning_seed, "unlearn")
        split = prepared.split
        original_key = runner.cache.key(kind, resolved, prepared, split.train, original_seed)
        if oracle_free:
            trained = runner.cache.train(kind, resolved, prepared, split.train, original_seed, "original")
            original = runner.evaluate(plan, trained)
            criterion: Criterion = OracleFree(kind, resolved, prepared, original.outputs, trained.seconds, tolerance)
            calibration = split.heldout_forget_validation
            rows = [split.forget.tolist(), split.validation.tolist(), None if calibration is None else calibration.tolist()]
            identity: list[Any] = [original_key, stable_hash(rows), tuning_seed, "oracle-free", SCORE_VERSION, tolerance]
            baseline = trained.seconds
        else:
            original, reference = runner.originals(plan, tuning_seed)
            criterion = ReferenceGap(kind, prepared, reference.outputs, tuning_seed)
            reference_rows = kind.reference_rows(prepared, resolved.config.goal)
            identity = [
                original_key, runner.cache.key(kind, resolved, prepared, reference_rows, unlearn_seed),
                stable_hash([split.forget.tolist(), split.validation.tolist()]), tuning_seed,
            ]
            baseline = reference.seconds
        return cls(plan, runner.cache, original.model, criterion, baseline, tuning_seed, unlearn_seed, stable_hash(identity), progress)

    def trial_key(self, method: UnlearningMethod, params: dict[str, Any]) -> str:
        return stable_hash([self.key, type(method).__name__, params, __version__])

    def score(self, candidate: UnlearningMethod) -> tuple[float, float, str | None]:
        """(score, seconds, None) of one setting, or (inf, seconds or inf, why) for one that failed or may not be selected."""
        kind, resolved, prepared = self.plan.kind, self.plan.resolved, self.plan.prepared
        start = self.original
        if candidate.original == "own":
            original_seed = derive_seed(self.tuning_seed, "original")
            own_task = kind.task(resolved, prepared, torch.Generator().manual_seed(original_seed), self.progress)
            start = self.cache.own_original(candidate, own_task, resolved, prepared, original_seed).model
        outputs, seconds, failure = run_trial(kind, resolved, prepared, start, candidate, self.unlearn_seed, self.progress)
        if failure is not None:
            return float("inf"), float("inf"), failure
        value, why_not = self.criterion.score(outputs, seconds)
        return value, seconds, why_not


def tune_experiment(
    runner: Runner,
    plan: Plan,
    *,
    budget: int,
    tuning_seeds: list[int],
    only: list[str] | None = None,
    max_time_fraction: float | None = None,
    log: Callable[[str], None] = lambda message: None,
    progress: Progress | None = None,
    oracle_free: bool = False,
    tolerance: float = DEFAULT_TOLERANCE,
) -> list[MethodTuning]:
    """Score candidate settings of every tunable method on ``tuning_seeds``.

    A setting's score and time are the means over the tuning seeds (one
    seed's score is about as noisy as the differences between good
    settings); it is unusable if it failed (or, oracle-free, was not
    feasible: see :mod:`unlearnkit.metrics.oracle_free`) on any seed. With
    ``max_time_fraction``, a setting is selectable only if its mean time is at
    most that fraction of retraining's mean time (oracle-free: of the
    original's training time, which estimates it without retraining). Trials
    already in the store are read, not re-run.
    """
    if not tuning_seeds:
        raise ValueError("tune_experiment needs at least one tuning seed")
    settings = [
        TuningSetting.prepare(runner, plan, seed, progress or runner.progress, oracle_free, tolerance) for seed in tuning_seeds
    ]
    baseline_seconds = float(np.mean([s.baseline_seconds for s in settings]))
    time_limit = float("inf") if max_time_fraction is None else max_time_fraction * baseline_seconds
    if max_time_fraction is not None:
        what = "training the original" if oracle_free else "retraining"
        log(f"{what} took {baseline_seconds:.1f}s; settings slower than {time_limit:.1f}s are not selectable")
    criterion = settings[0].criterion.name
    results = []
    for label, method in plan.resolved.methods:
        if not type(method).search_space or (only and label not in only):
            continue
        tuning = MethodTuning(label, type(method).__name__, time_limit, criterion=criterion)
        for params in candidates(method, budget, tuning_seeds[0]):
            scores, notes = [], []
            for setting in settings:
                gap, seconds, note = _stored_or_scored(runner, setting, label, method, params)
                scores.append((gap, seconds))
                notes.append(note)
            gaps, times = zip(*scores, strict=True)
            gap = float(np.mean(gaps)) if all(np.isfinite(gaps)) else float("inf")
            seconds = float(np.mean(times)) if np.isfinite(gap) else float("inf")
            tuning.trials.append((params, gap, seconds))
            log(f"{label} {params}: " + "; ".join(notes))
        results.append(tuning)
    return results


def _stored_or_scored(
    runner: Runner, setting: TuningSetting, label: str, method: UnlearningMethod, params: dict[str, Any]
) -> tuple[float, float, str]:
    """(gap, seconds, log note) of one setting on one tuning seed, read from the store when it was tried before."""
    key = setting.trial_key(method, params)
    stored = runner.store.load_trial(key)
    if stored is not None:
        gap, seconds = stored
        described = f"{setting.criterion.name} {gap:.3g} in {seconds:.1f}s" if np.isfinite(gap) else "unusable"
        return gap, seconds, described + " (stored)"
    gap, seconds, failure = setting.score(type(method).from_params(params))
    runner.store.save_trial(key, setting.plan.name, label, params, gap, seconds)
    return gap, seconds, f"unusable ({failure})" if failure else f"{setting.criterion.name} {gap:.3g} in {seconds:.1f}s"


def recipes_toml(experiment: str, tunings: list[MethodTuning]) -> str:
    """TOML ``[[experiment.methods]]`` blocks with each method's selected parameters (non-default ones only).

    A method with no selectable setting (all diverged or over the time limit)
    gets a comment instead of a block, so applying the recipes keeps its
    configured parameters.
    """
    criteria = {t.criterion for t in tunings} or {"selection gap"}
    how = "oracle-free score: no retrained model" if criteria == {"oracle-free score"} else "validation-based gap to retrain"
    lines = [f"# Selected by `unlearnkit tune` for experiment {experiment!r} ({how})."]
    for tuning in tunings:
        if tuning.best is None:
            why = "every setting failed" if np.isinf(tuning.time_limit) else f"no setting finished within {tuning.time_limit:.1f} s"
            lines += ["", f"# {tuning.label}: {why}; configured recipe kept"]
            continue
        params, gap, seconds = tuning.best
        name = next(n for n in METHODS if METHODS[n].__name__ == tuning.method)
        defaults = METHODS[name]().get_params()
        lines += ["", "[[experiment.methods]]", f'name = "{name}"']
        if tuning.label != name:
            lines.append(f'label = "{tuning.label}"')
        lines += [f"{key} = {_toml_value(value)}" for key, value in params.items() if defaults.get(key) != value]
        value = f"{gap:.2f} points" if tuning.criterion == "selection gap" else f"{gap:.3f}"
        lines.append(f"# {tuning.criterion} {value}, {seconds:.1f} s on the tuning seed(s)")
    return "\n".join(lines) + "\n"


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    if value is None:
        raise ValueError("TOML has no null; leave the parameter at its default")
    return repr(value)
