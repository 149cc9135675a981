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

from unlearnkit import __version__
from unlearnkit.errors import UnsuitableSettingError
from unlearnkit.experiment.keys import derive_seed, stable_hash
from unlearnkit.experiment.model_cache import ModelCache
from unlearnkit.experiment.runner import Plan, Runner
from unlearnkit.methods.base import UnlearningMethod
from unlearnkit.methods.registry import METHODS
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
    """The fixed part of every trial on one tuning seed: the models, the split and what identifies them."""

    plan: Plan
    cache: ModelCache
    original: torch.nn.Module
    reference_outputs: Any
    reference_seconds: float
    tuning_seed: int
    unlearn_seed: int
    key: str  # hash of the two models and the split the trials are scored on
    progress: Progress

    @classmethod
    def prepare(cls, runner: Runner, plan: Plan, tuning_seed: int, progress: Progress) -> TuningSetting:
        """Train (or load from the cache) the tuning seed's original and retrained reference."""
        kind, resolved, prepared = plan.kind, plan.resolved, plan.prepared
        original_seed, unlearn_seed = derive_seed(tuning_seed, "original"), derive_seed(tuning_seed, "unlearn")
        original, reference = runner.originals(plan, tuning_seed)
        reference_rows = kind.reference_rows(prepared, resolved.config.goal)
        key = stable_hash(
            [
                runner.cache.key(kind, resolved, prepared, prepared.split.train, original_seed),
                runner.cache.key(kind, resolved, prepared, reference_rows, unlearn_seed),
                stable_hash([prepared.split.forget.tolist(), prepared.split.validation.tolist()]),
                tuning_seed,
            ]
        )
        return cls(plan, runner.cache, original.model, reference.outputs, reference.seconds, tuning_seed, unlearn_seed, key, progress)

    def trial_key(self, method: UnlearningMethod, params: dict[str, Any]) -> str:
        return stable_hash([self.key, type(method).__name__, params, __version__])

    def score(self, candidate: UnlearningMethod) -> tuple[float, float, str | None]:
        """(selection gap, seconds, None) of one setting, or (inf, inf, why) for a setting that failed on this model.

        Divergence and a setting unsuitable for this model are legitimate
        outcomes of a search, not errors of the tool: the setting is kept as
        tried and never selectable.
        """
        kind, resolved, prepared = self.plan.kind, self.plan.resolved, self.plan.prepared
        start = self.original
        if candidate.original == "own":
            original_seed = derive_seed(self.tuning_seed, "original")
            own_task = kind.task(resolved, prepared, torch.Generator().manual_seed(original_seed), self.progress)
            start = self.cache.own_original(candidate, own_task, resolved, prepared, original_seed).model
        task = kind.task(resolved, prepared, torch.Generator().manual_seed(self.unlearn_seed), self.progress)
        kind.warm_up(start, prepared)
        try:
            result = candidate.unlearn(start, task)
        except (FloatingPointError, UnsuitableSettingError) as error:
            return float("inf"), float("inf"), str(error)
        outputs = kind.outputs(result.model, prepared)
        return kind.selection_gap(prepared, outputs, self.reference_outputs, self.tuning_seed), result.seconds, None


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
) -> list[MethodTuning]:
    """Score candidate settings of every tunable method on ``tuning_seeds``.

    A setting's gap and time are the means over the tuning seeds (one seed's
    gap is about as noisy as the differences between good settings); it is
    unusable if it failed on any seed. With ``max_time_fraction``, a setting
    is selectable only if its mean time is at most that fraction of
    retraining's mean time. Trials already in the store are read, not re-run.
    """
    if not tuning_seeds:
        raise ValueError("tune_experiment needs at least one tuning seed")
    settings = [TuningSetting.prepare(runner, plan, seed, progress or runner.progress) for seed in tuning_seeds]
    reference_seconds = float(np.mean([s.reference_seconds for s in settings]))
    time_limit = float("inf") if max_time_fraction is None else max_time_fraction * reference_seconds
    if max_time_fraction is not None:
        log(f"retraining took {reference_seconds:.1f}s; settings slower than {time_limit:.1f}s are not selectable")
    results = []
    for label, method in plan.resolved.methods:
        if not type(method).search_space or (only and label not in only):
            continue
        tuning = MethodTuning(label, type(method).__name__, time_limit)
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
        return gap, seconds, (f"selection gap {gap:.2f} in {seconds:.1f}s" if np.isfinite(gap) else "unusable") + " (stored)"
    gap, seconds, failure = setting.score(type(method).from_params(params))
    runner.store.save_trial(key, setting.plan.name, label, params, gap, seconds)
    return gap, seconds, f"unusable ({failure})" if failure else f"selection gap {gap:.2f} in {seconds:.1f}s"


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
