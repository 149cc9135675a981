"""Hyper-parameter selection without test data.

For each method, candidate settings (the configured one plus points of the
method's declared ``search_space``; a seeded random subset when the grid is
larger than the budget) are run on a *tuning seed* that is not one of the
experiment's evaluation seeds, and scored by the kind's selection gap to
that seed's retrained reference (:meth:`ExperimentKind.selection_gap`: from
forget, retain and **validation** data). Test and held-out forget samples
are never read, so the evaluation that follows is not tuned on what it
reports. Every kind is tuned the same way.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from unlearnkit.errors import UnsuitableSettingError
from unlearnkit.experiment.executor import Job
from unlearnkit.experiment.keys import derive_seed, stable_hash
from unlearnkit.experiment.runner import Runner
from unlearnkit.experiment.sweep import RunSummary, Sweep
from unlearnkit.experiment.units import FaultPointProgress, Plan, PlanRef, TrainedState, WorkContext, restore_own_original
from unlearnkit.methods.base import UnlearningMethod
from unlearnkit.methods.registry import METHODS
from unlearnkit.progress import Progress
from unlearnkit.version import __version__


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


@dataclass
class MethodTuning:
    label: str
    method: str
    # A setting slower than this many seconds is tried and reported but not selectable.
    time_limit: float = float("inf")
    trials: list[tuple[dict[str, Any], float, float]] = field(default_factory=list)  # params, gap, seconds

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
    """The fixed part of every trial on one tuning seed: the original, the reference's outputs, the seeds."""

    plan: Plan
    original: torch.nn.Module
    reference_outputs: Any
    tuning_seed: int
    unlearn_seed: int
    progress: Progress

    def score(
        self, candidate: UnlearningMethod, own_original: torch.nn.Module | None = None, label: str | None = None
    ) -> tuple[float, float, str | None]:
        """(selection gap, seconds, None) of one setting, or (inf, inf, why) for a setting that failed on this model.

        Divergence and a setting unsuitable for this model are legitimate
        outcomes of a search, not errors of the tool: the setting is kept as
        tried and never selectable.
        """
        kind, resolved, prepared = self.plan.kind, self.plan.resolved, self.plan.prepared
        start = self.original if own_original is None else own_original
        unlearned = self.plan.prepared_for(label)  # what the entry unlearns (its forget expansion, if any)
        task = kind.task(resolved, unlearned, torch.Generator().manual_seed(self.unlearn_seed), self.progress)
        kind.warm_up(start, prepared)
        try:
            result = candidate.unlearn(start, task)
        except (FloatingPointError, UnsuitableSettingError) as error:
            return float("inf"), float("inf"), str(error)
        outputs = kind.outputs(result.model, prepared)
        return kind.selection_gap(prepared, outputs, self.reference_outputs, self.tuning_seed), result.seconds, None


@dataclass(frozen=True)
class TrialResult:
    gap: float
    seconds: float
    failure: str | None  # why the setting is unusable on this model (None: it ran)


@dataclass(frozen=True)
class TrialUnit:
    """One tuning trial: one setting of one method on one tuning seed, scored (a unit of work, see :mod:`.units`)."""

    plan: PlanRef
    method: type[UnlearningMethod]
    params: dict[str, Any]
    tuning_seed: int
    label: str | None = None  # the entry the setting is tried for (its forget expansion, if any)

    def __call__(
        self, context: WorkContext, original: TrainedState, reference: TrainedState, own: TrainedState | None = None
    ) -> TrialResult:
        plan = context.plans.plan(self.plan)
        candidate = self.method.from_params(self.params)
        progress = FaultPointProgress(context.progress)
        setting = TuningSetting(
            plan,
            context.plans.evaluated(plan, original).model,
            context.plans.evaluated(plan, reference).outputs,
            self.tuning_seed,
            derive_seed(self.tuning_seed, "unlearn"),
            progress,
        )
        own_model = None
        if own is not None:
            own_model = restore_own_original(plan, candidate, own, derive_seed(self.tuning_seed, "original"), progress)
        return TrialResult(*setting.score(candidate, own_model, self.label))


@dataclass(frozen=True)
class TuningSeed:
    """The driver's view of one tuning seed: the jobs giving its two models, and the key of what trials are scored on."""

    seed: int
    original: Job
    reference: Job
    key: str  # hash of the two models and the split the trials are scored on

    @classmethod
    def add(cls, sweep: Sweep, plan: Plan, seed: int) -> TuningSeed:
        original, reference = sweep.model(plan, "original", seed), sweep.model(plan, "reference", seed)
        split = plan.prepared.split
        key = stable_hash([original.key, reference.key, stable_hash([split.forget.tolist(), split.validation.tolist()]), seed])
        return cls(seed, original, reference, key)

    def trial_key(self, plan: Plan, label: str, method: UnlearningMethod, params: dict[str, Any]) -> str:
        """A trial's key: the setting, what it is scored on and, for an entry that expands the forget set, the expansion."""
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
) -> list[MethodTuning]:
    """Score candidate settings of every tunable method on ``tuning_seeds``.

    A setting's gap and time are the means over the tuning seeds (one seed's
    gap is about as noisy as the differences between good settings); it is
    unusable if it failed on any seed. With ``max_time_fraction``, a setting
    is selectable only if its mean time is at most that fraction of
    retraining's mean time. Trials already in the store are read, not re-run;
    the others are units of work run by the runner's executor (in parallel
    under Ray), each stored as it finishes. A trial that crashed (after its
    retries) is in ``summary.failures`` and counts as unusable here.
    """
    if not tuning_seeds:
        raise ValueError("tune_experiment needs at least one tuning seed")
    summary = RunSummary() if summary is None else summary
    sweep = runner.sweep(summary)
    seeds = [TuningSeed.add(sweep, plan, seed) for seed in tuning_seeds]
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
    reference_times = [runner.store.model_seconds(seed.reference.key) for seed in seeds]
    known = [seconds for seconds in reference_times if seconds is not None]
    reference_seconds = float(np.mean(known)) if len(known) == len(reference_times) else float("nan")
    time_limit = float("inf") if max_time_fraction is None else max_time_fraction * reference_seconds
    if max_time_fraction is not None:
        log(f"retraining took {reference_seconds:.1f}s; settings slower than {time_limit:.1f}s are not selectable")
    results = []
    for label, method in tunable:
        tuning = MethodTuning(label, type(method).__name__, time_limit)
        for params in candidates(method, budget, tuning_seeds[0]):
            scores = [outcomes[seed.trial_key(plan, label, method, params)] for seed in seeds]
            gaps, times, notes = zip(*scores, strict=True)
            gap = float(np.mean(gaps)) if all(np.isfinite(gaps)) else float("inf")
            seconds = float(np.mean(times)) if np.isfinite(gap) else float("inf")
            tuning.trials.append((params, gap, seconds))
            log(f"{label} {params}: " + "; ".join(notes))
        results.append(tuning)
    return results


def _note(gap: float, seconds: float, failure: str | None) -> str:
    if failure is not None:
        return f"unusable ({failure})"
    return f"selection gap {gap:.2f} in {seconds:.1f}s" if np.isfinite(gap) else "unusable"


def _add_trial(
    runner: Runner, sweep: Sweep, plan: Plan, seed: TuningSeed, label: str, method: UnlearningMethod, params: dict[str, Any],
    outcomes: dict[str, tuple[float, float, str]],
) -> None:
    """A trial's outcome from the store when it was tried before, else a job that scores and stores it."""
    key = seed.trial_key(plan, label, method, params)
    stored = runner.store.load_trial(key)
    if stored is not None:
        gap, seconds = stored
        outcomes[key] = (gap, seconds, (f"selection gap {gap:.2f} in {seconds:.1f}s" if np.isfinite(gap) else "unusable") + " (stored)")
        return
    if any(job.key == key for job in sweep.jobs):  # two labels of one method may try the same setting
        return
    candidate = type(method).from_params(params)
    inputs: tuple[Job, ...] = (seed.original, seed.reference)
    if candidate.original == "own":
        inputs += (sweep.own_original(plan, candidate, seed.seed),)

    def save(result: TrialResult) -> None:
        runner.store.save_trial(key, plan.name, label, params, result.gap, result.seconds)
        outcomes[key] = (result.gap, result.seconds, _note(result.gap, result.seconds, result.failure))

    unit = TrialUnit(plan.ref(), type(method), params, seed.seed, label if label in plan.expanded else None)
    sweep.add(Job(f"{plan.name}/trial/{label}/seed{seed.seed}/{stable_hash(params)[:6]}", key, plan.name, unit, inputs, save, sweep.cpus))


def recipes_toml(experiment: str, tunings: list[MethodTuning]) -> str:
    """TOML ``[[experiment.methods]]`` blocks with each method's selected parameters (non-default ones only).

    A method with no selectable setting (all diverged or over the time limit)
    gets a comment instead of a block, so applying the recipes keeps its
    configured parameters.
    """
    lines = [f"# Selected by `unlearnkit tune` for experiment {experiment!r} (validation-based gap to retrain)."]
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
        lines.append(f"# selection gap {gap:.2f} points, {seconds:.1f} s on the tuning seed(s)")
    return "\n".join(lines) + "\n"


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    if value is None:
        raise ValueError("TOML has no null; leave the parameter at its default")
    return repr(value)
