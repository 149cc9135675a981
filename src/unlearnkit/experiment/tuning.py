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
Each trial is a unit of work (:class:`TrialUnit`) in a sweep, run in this
process or on Ray, and stored as it finishes.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import torch
from torch import nn

from unlearnkit.errors import UnsuitableSettingError
from unlearnkit.experiment.executor import Job
from unlearnkit.experiment.keys import derive_seed, stable_hash
from unlearnkit.experiment.runner import Runner
from unlearnkit.experiment.sweep import RunSummary, Sweep
from unlearnkit.experiment.units import FaultPointProgress, Plan, PlanRef, TrainedState, WorkContext, restore_own_original
from unlearnkit.kinds.base import ExperimentKind, Prepared, ResolvedExperiment
from unlearnkit.methods.base import UnlearningMethod
from unlearnkit.methods.registry import METHODS
from unlearnkit.metrics.oracle_free import DEFAULT_TOLERANCE, SCORE_VERSION, OracleFreeScore, oracle_free_score
from unlearnkit.progress import Progress
from unlearnkit.version import __version__

REFERENCE_GAP = "selection gap"
ORACLE_FREE = "oracle-free score"


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

    def score(self, outputs: Any, seconds: float) -> tuple[float, str | None]: ...


@dataclass(frozen=True, eq=False)
class ReferenceGap:
    """The kind's validation-only selection gap to a retrained reference's outputs, in points."""

    kind: ExperimentKind[Any, Any]
    prepared: Prepared[Any]
    reference_outputs: Any
    seed: int

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

    def evaluate(self, outputs: Any, seconds: float) -> OracleFreeScore:
        criteria = self.kind.oracle_free_criteria(self.resolved, self.prepared, outputs, self.original_outputs)
        return oracle_free_score(criteria, seconds, self.training_seconds, self.tolerance)

    def score(self, outputs: Any, seconds: float) -> tuple[float, str | None]:
        scored = self.evaluate(outputs, seconds)
        return (scored.total, None) if scored.feasible else (float("inf"), scored.why_not)


def run_trial(
    kind: ExperimentKind[Any, Any], resolved: ResolvedExperiment, prepared: Prepared[Any], start: nn.Module,
    candidate: UnlearningMethod, unlearn_seed: int, progress: Progress, unlearned: Prepared[Any] | None = None,
) -> tuple[Any, float, str | None]:
    """(outputs on ``prepared``, seconds, None) of one setting unlearning ``start``, or (None, inf, why) when it failed.

    The method unlearns ``unlearned`` (an entry's forget expansion; default
    ``prepared``); its outputs are always taken on ``prepared``, the split
    every criterion reads. Divergence and a setting unsuitable for this
    model are legitimate outcomes of a search, not errors of the tool: the
    setting is kept as tried and never selectable.
    """
    task = kind.task(resolved, prepared if unlearned is None else unlearned, torch.Generator().manual_seed(unlearn_seed), progress)
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
    criterion: str = REFERENCE_GAP

    @property
    def eligible(self) -> list[tuple[dict[str, Any], float, float]]:
        """Trials that finished (finite score) within the time limit."""
        return [t for t in self.trials if np.isfinite(t[1]) and t[2] <= self.time_limit]

    @property
    def best(self) -> tuple[dict[str, Any], float, float] | None:
        """The eligible trial with the smallest score; None when no setting qualifies."""
        eligible = self.eligible
        return min(eligible, key=lambda t: t[1]) if eligible else None


@dataclass
class TuningSetting:
    """The fixed part of every trial on one tuning seed: the starting model, the criterion, the seeds."""

    plan: Plan
    original: torch.nn.Module
    criterion: Criterion
    tuning_seed: int
    unlearn_seed: int
    progress: Progress

    def score(
        self, candidate: UnlearningMethod, own_original: torch.nn.Module | None = None, label: str | None = None
    ) -> tuple[float, float, str | None]:
        """(score, seconds, None) of one setting; (inf, inf, why) when it failed, (inf, seconds, why) when not selectable."""
        kind, resolved, prepared = self.plan.kind, self.plan.resolved, self.plan.prepared
        start = self.original if own_original is None else own_original
        unlearned = self.plan.prepared_for(label)  # what the entry unlearns (its forget expansion, if any)
        outputs, seconds, failure = run_trial(kind, resolved, prepared, start, candidate, self.unlearn_seed, self.progress, unlearned)
        if failure is not None:
            return float("inf"), float("inf"), failure
        value, why_not = self.criterion.score(outputs, seconds)
        return value, seconds, why_not


@dataclass(frozen=True)
class TrialResult:
    gap: float  # the criterion's score (inf: not selectable)
    seconds: float
    failure: str | None  # why the setting is unusable on this model (None: it ran and may be selected)


@dataclass(frozen=True)
class TrialUnit:
    """One tuning trial: one setting of one method on one tuning seed, scored (a unit of work, see :mod:`.units`).

    Called with the tuning seed's original, then (scored against a reference)
    the reference, then the method's own original when it brings one. An
    oracle-free trial receives no reference: it is scored by
    :class:`OracleFree` with the original's outputs and training time.
    """

    plan: PlanRef
    method: type[UnlearningMethod]
    params: dict[str, Any]
    tuning_seed: int
    label: str | None = None  # the entry the setting is tried for (its forget expansion, if any)
    oracle_free: bool = False
    tolerance: float = DEFAULT_TOLERANCE

    def __call__(self, context: WorkContext, original: TrainedState, *models: TrainedState) -> TrialResult:
        plan = context.plans.plan(self.plan)
        kind, resolved, prepared = plan.kind, plan.resolved, plan.prepared
        candidate = self.method.from_params(self.params)
        progress = FaultPointProgress(context.progress)
        evaluated = context.plans.evaluated(plan, original)
        criterion: Criterion
        if self.oracle_free:
            criterion = OracleFree(kind, resolved, prepared, evaluated.outputs, original.seconds, self.tolerance)
            own = models[0] if models else None
        else:
            reference, *rest = models
            criterion = ReferenceGap(kind, prepared, context.plans.evaluated(plan, reference).outputs, self.tuning_seed)
            own = rest[0] if rest else None
        setting = TuningSetting(plan, evaluated.model, criterion, self.tuning_seed, derive_seed(self.tuning_seed, "unlearn"), progress)
        own_model = None
        if own is not None:
            own_model = restore_own_original(plan, candidate, own, derive_seed(self.tuning_seed, "original"), progress)
        return TrialResult(*setting.score(candidate, own_model, self.label))


@dataclass(frozen=True)
class TuningSeed:
    """The driver's view of one tuning seed: the jobs giving its models, and the key of what trials are scored by.

    ``reference`` is None for oracle-free tuning: no retrained model is
    trained or read. ``baseline`` is the model whose training time stands
    for retraining's (the reference's; oracle-free, the original's).
    """

    seed: int
    original: Job
    reference: Job | None
    key: str  # hash of the models, the split and the criterion the trials are scored by
    oracle_free: bool = False
    tolerance: float = DEFAULT_TOLERANCE

    @classmethod
    def add(cls, sweep: Sweep, plan: Plan, seed: int, oracle_free: bool = False, tolerance: float = DEFAULT_TOLERANCE) -> TuningSeed:
        original = sweep.model(plan, "original", seed)
        split = plan.prepared.split
        if oracle_free:
            calibration = split.heldout_forget_validation
            rows = [split.forget.tolist(), split.validation.tolist(), None if calibration is None else calibration.tolist()]
            key = stable_hash([original.key, stable_hash(rows), seed, "oracle-free", SCORE_VERSION, tolerance])
            return cls(seed, original, None, key, True, tolerance)
        reference = sweep.model(plan, "reference", seed)
        key = stable_hash([original.key, reference.key, stable_hash([split.forget.tolist(), split.validation.tolist()]), seed])
        return cls(seed, original, reference, key)

    @property
    def baseline(self) -> Job:
        return self.original if self.reference is None else self.reference

    def trial_key(self, plan: Plan, label: str, method: UnlearningMethod, params: dict[str, Any]) -> str:
        """A trial's key: the setting, what it is scored by and, for an entry that expands the forget set, the expansion."""
        payload = [self.key, type(method).__name__, params, __version__]
        expansion = plan.resolved.expansion_params(label)
        return stable_hash(payload if expansion is None else [*payload, expansion])


def tune_experiment(
    runner: Runner,
    plan: Plan,
    *,
    budget: int,
    tuning_seeds: list[int],
    only: list[str] | None = None,
    max_time_fraction: float | None = None,
    log: Callable[[str], None] = lambda message: None,
    summary: RunSummary | None = None,
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
    original's training time, which estimates it without retraining).
    Trials already in the store are read, not re-run; the others are units
    of work run by the runner's executor (in parallel under Ray), each stored
    as it finishes. A trial that crashed (after its retries) is in
    ``summary.failures`` and counts as unusable here. With ``oracle_free``,
    an experiment the kind cannot score without a reference is refused
    before anything is trained.
    """
    if not tuning_seeds:
        raise ValueError("tune_experiment needs at least one tuning seed")
    if oracle_free:
        plan.kind.check_oracle_free(plan.resolved, plan.prepared)
    summary = RunSummary() if summary is None else summary
    sweep = runner.sweep(summary)
    seeds = [TuningSeed.add(sweep, plan, seed, oracle_free, tolerance) for seed in tuning_seeds]
    criterion = ORACLE_FREE if oracle_free else REFERENCE_GAP
    tunable = [(label, method) for label, method in plan.resolved.methods if type(method).search_space and (not only or label in only)]
    outcomes: dict[str, tuple[float, float, str]] = {}
    for label, method in tunable:
        for params in candidates(method, budget, tuning_seeds[0]):
            for seed in seeds:
                _add_trial(runner, sweep, plan, seed, label, method, params, outcomes)
    failures = runner.execute(sweep)
    runner.record_failures("tune", [plan], failures)
    for failure in failures:  # a trial that crashed, or could not run without its models
        outcomes.setdefault(failure.key, (float("inf"), float("inf"), f"failed ({failure.error})"))
    baseline_times = [runner.store.model_seconds(seed.baseline.key) for seed in seeds]
    known = [seconds for seconds in baseline_times if seconds is not None]
    baseline_seconds = float(np.mean(known)) if len(known) == len(baseline_times) else float("nan")
    time_limit = float("inf") if max_time_fraction is None else max_time_fraction * baseline_seconds
    if max_time_fraction is not None:
        what = "training the original" if oracle_free else "retraining"
        log(f"{what} took {baseline_seconds:.1f}s; settings slower than {time_limit:.1f}s are not selectable")
    results = []
    for label, method in tunable:
        tuning = MethodTuning(label, type(method).__name__, time_limit, criterion=criterion)
        for params in candidates(method, budget, tuning_seeds[0]):
            scores = [outcomes[seed.trial_key(plan, label, method, params)] for seed in seeds]
            gaps, times, notes = zip(*scores, strict=True)
            gap = float(np.mean(gaps)) if all(np.isfinite(gaps)) else float("inf")
            seconds = float(np.mean(times)) if np.isfinite(gap) else float("inf")
            tuning.trials.append((params, gap, seconds))
            log(f"{label} {params}: " + "; ".join(notes))
        results.append(tuning)
    return results


def _note(criterion: str, gap: float, seconds: float, failure: str | None) -> str:
    if failure is not None:
        return f"unusable ({failure})"
    return f"{criterion} {gap:.3g} in {seconds:.1f}s" if np.isfinite(gap) else "unusable"


def _add_trial(
    runner: Runner, sweep: Sweep, plan: Plan, seed: TuningSeed, label: str, method: UnlearningMethod, params: dict[str, Any],
    outcomes: dict[str, tuple[float, float, str]],
) -> None:
    """A trial's outcome from the store when it was tried before, else a job that scores and stores it."""
    key = seed.trial_key(plan, label, method, params)
    criterion = ORACLE_FREE if seed.oracle_free else REFERENCE_GAP
    stored = runner.store.load_trial(key)
    if stored is not None:
        gap, seconds = stored
        outcomes[key] = (gap, seconds, _note(criterion, gap, seconds, None) + " (stored)")
        return
    if any(job.key == key for job in sweep.jobs):  # two labels of one method may try the same setting
        return
    candidate = type(method).from_params(params)
    inputs: tuple[Job, ...] = (seed.original,) if seed.reference is None else (seed.original, seed.reference)
    if candidate.original == "own":
        inputs += (sweep.own_original(plan, candidate, seed.seed),)

    def save(result: TrialResult) -> None:
        runner.store.save_trial(key, plan.name, label, params, result.gap, result.seconds)
        outcomes[key] = (result.gap, result.seconds, _note(criterion, result.gap, result.seconds, result.failure))

    unit = TrialUnit(
        plan.ref(), type(method), params, seed.seed, label if label in plan.expanded else None, seed.oracle_free, seed.tolerance
    )
    sweep.add(Job(f"{plan.name}/trial/{label}/seed{seed.seed}/{stable_hash(params)[:6]}", key, plan.name, unit, inputs, save, sweep.cpus))


def recipes_toml(experiment: str, tunings: list[MethodTuning]) -> str:
    """TOML ``[[experiment.methods]]`` blocks with each method's selected parameters (non-default ones only).

    A method with no selectable setting (all diverged or over the time limit)
    gets a comment instead of a block, so applying the recipes keeps its
    configured parameters.
    """
    criteria = {t.criterion for t in tunings} or {REFERENCE_GAP}
    how = "oracle-free score: no retrained model" if criteria == {ORACLE_FREE} else "validation-based gap to retrain"
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
        value = f"{gap:.2f} points" if tuning.criterion == REFERENCE_GAP else f"{gap:.3f}"
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
