"""The one runner: every kind of experiment through the same skeleton.

resolve -> load data, split, forget set (every experiment, before anything
is trained or written) -> per seed: original and reference (content-keyed
model cache) -> the reference record -> methods -> metrics -> run records
with per-example outputs. Population metrics are computed at report time
from the stored outputs.

Timing: a method's time is its whole ``unlearn`` call. Before every timed
call the kind runs an untimed warm-up pass on the input model, so no method
pays the process's first-call costs and a method's time does not depend on
its position in the configuration. Retraining's time is the whole training
run that the model cache recorded; a ``retrain`` method row reuses the cached
model trained on the retain set with the unlearning seed (the very model
``Retrain().unlearn`` would train: same seed, same recipe; tested).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from unlearnkit import __version__
from unlearnkit.experiment.keys import derive_seed, reference_config, reference_key, run_config, run_key, stable_hash
from unlearnkit.experiment.memory import measure_peak_memory
from unlearnkit.experiment.model_cache import ModelCache, TrainedModel
from unlearnkit.kinds.base import Evaluated, ExperimentKind, Prepared, ResolvedExperiment
from unlearnkit.kinds.registry import KINDS
from unlearnkit.kinds.schema import ExperimentFields
from unlearnkit.methods.base import UnlearningMethod, UnlearnResult
from unlearnkit.metrics.base import Metric
from unlearnkit.progress import Progress, SilentProgress
from unlearnkit.store import ReferenceRecord, RunRecord, SQLiteStore


@dataclass
class RunSummary:
    executed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    def extend(self, other: RunSummary) -> None:
        self.executed += other.executed
        self.skipped += other.skipped


@dataclass(frozen=True, eq=False)
class Plan:
    """One experiment ready to run: its kind, components (built once) and prepared data."""

    position: int
    kind: ExperimentKind[Any, Any]
    resolved: ResolvedExperiment
    prepared: Prepared[Any]

    @property
    def name(self) -> str:
        return self.resolved.name

    def run_keys(self) -> list[str]:
        return [
            run_key(self.resolved, label, method, seed) for seed in self.resolved.config.seeds for label, method in self.resolved.methods
        ]


def metric_info(metrics: Sequence[tuple[str, Metric]]) -> dict[str, dict[str, Any]]:
    """What the report needs to read a metric without importing it: direction, goals, notion."""
    return {
        name: {
            "direction": metric.direction,
            "goals": sorted(metric.goals),
            "notion": metric.notion,
            "needs_reference": metric.needs_reference,
        }
        for name, metric in metrics
    }


def resolve(config: ExperimentFields) -> tuple[ExperimentKind[Any, Any], ResolvedExperiment]:
    kind = KINDS[config.kind]
    return kind, kind.resolve(config)


class Runner:
    """Executes experiments of every kind into a store; completed runs are skipped on re-runs."""

    def __init__(self, store: SQLiteStore, *, progress: Progress | None = None, log: Callable[[str], None] | None = None) -> None:
        self.store = store
        self.progress = progress or SilentProgress()
        self.log = log or (lambda message: None)
        self.cache = ModelCache(store, self.progress)
        self._data: dict[str, Any] = {}

    # -- planning -------------------------------------------------------------
    def load(self, kind: ExperimentKind[Any, Any], resolved: ResolvedExperiment) -> Any:
        """The experiment's dataset, loaded once per (kind, dataset, parameters) in this runner."""
        key = stable_hash([kind.name, resolved.data_params()])
        if key not in self._data:
            self._data[key] = resolved.dataset.load()
        return self._data[key]

    def plan(self, position: int, config: ExperimentFields) -> Plan:
        kind, resolved = resolve(config)
        return Plan(position, kind, resolved, kind.prepare(resolved, self.load(kind, resolved)))

    def plan_all(self, configs: Sequence[ExperimentFields]) -> list[Plan]:
        """Every experiment's data, split and forget set: a request that cannot be met fails before anything is written."""
        return [self.plan(position, config) for position, config in enumerate(configs)]

    def save_configuration(self, plan: Plan) -> None:
        """Keep the whole configuration and the run keys it asks for.

        The report reads report-time settings (population metrics) from it,
        and shows only these runs: a label re-run with another recipe
        replaces its earlier rows instead of being averaged with them.
        """
        self.store.save_experiment(plan.name, plan.position, plan.resolved.config.model_dump(mode="json"), plan.run_keys())

    # -- running --------------------------------------------------------------
    def run(self, configs: Sequence[ExperimentFields]) -> RunSummary:
        plans = self.plan_all(configs)
        summary = RunSummary()
        for plan in plans:
            self.save_configuration(plan)
            self.run_plan(plan, summary)
        return summary

    def pending(self, plan: Plan, seed: int, summary: RunSummary) -> list[tuple[int, str, UnlearningMethod]]:
        """The (position, label, method) of ``seed`` not yet in the store."""
        todo = []
        for index, (label, method) in enumerate(plan.resolved.methods):
            if self.store.has_run(run_key(plan.resolved, label, method, seed)):
                summary.skipped.append(f"{plan.name}/{label}/seed{seed}")
            else:
                todo.append((index, label, method))
        return todo

    def run_plan(self, plan: Plan, summary: RunSummary, seeds: Sequence[int] | None = None) -> None:
        seeds = plan.resolved.config.seeds if seeds is None else seeds
        work = {seed: self.pending(plan, seed, summary) for seed in seeds}
        missing_reference = {seed: not self.store.has_reference(reference_key(plan.resolved, seed)) for seed in seeds}
        if not any(work.values()) and not any(missing_reference.values()):
            self.log(f"{plan.name}: every run is already in the store")
            return
        self.log(f"{plan.name}: split {plan.prepared.split.describe()}")
        for seed in seeds:
            if work[seed] or missing_reference[seed]:
                self.run_seed(plan, seed, work[seed], summary)

    def evaluate(self, plan: Plan, trained: TrainedModel) -> Evaluated[Any]:
        return Evaluated(trained.model, plan.kind.outputs(trained.model, plan.prepared), trained.seconds, trained.peak_memory_mib)

    def originals(self, plan: Plan, seed: int) -> tuple[Evaluated[Any], Evaluated[Any]]:
        """The seed's original (all training rows) and reference (the goal's retained rows), evaluated."""
        kind, resolved, prepared = plan.kind, plan.resolved, plan.prepared
        original = self.cache.train(kind, resolved, prepared, prepared.split.train, derive_seed(seed, "original"), "original")
        reference_rows = kind.reference_rows(prepared, resolved.config.goal)
        reference = self.cache.train(kind, resolved, prepared, reference_rows, derive_seed(seed, "unlearn"), "reference")
        return self.evaluate(plan, original), self.evaluate(plan, reference)

    def run_seed(self, plan: Plan, seed: int, pending: list[tuple[int, str, UnlearningMethod]], summary: RunSummary) -> None:
        kind, resolved = plan.kind, plan.resolved
        original, reference = self.originals(plan, seed)
        info = metric_info(resolved.metrics)
        ref_key = reference_key(resolved, seed)
        if not self.store.has_reference(ref_key):
            # The reference scored against itself: the target values the report compares methods with.
            ctx = kind.metric_context(plan.prepared, reference, reference, original, seed)
            reference_record = ReferenceRecord(
                reference_key=ref_key,
                experiment=plan.name,
                kind=kind.name,
                goal=resolved.config.goal,
                seed=seed,
                seconds=reference.seconds,
                metrics={name: float(metric.compute(ctx)) for name, metric in resolved.metrics},
                metric_info=info,
                config=reference_config(resolved, seed),
                version=__version__,
            )
            self.store.write_reference(reference_record, kind.stored_outputs(reference.outputs, plan.prepared))
        for method_position, label, method in pending:
            evaluated, diagnostics = self.unlearn(plan, method, original, seed)
            ctx = kind.metric_context(plan.prepared, evaluated, reference, original, seed)
            metrics = {name: float(metric.compute(ctx)) for name, metric in resolved.metrics}
            record = RunRecord(
                run_key=run_key(resolved, label, method, seed),
                experiment=plan.name,
                experiment_position=plan.position,
                kind=kind.name,
                method=type(method).__name__,
                label=label,
                role=type(method).role,
                method_position=method_position,
                seed=seed,
                goal=resolved.config.goal,
                seconds=evaluated.seconds,
                peak_memory_mib=evaluated.peak_memory_mib,
                metrics=metrics,
                metric_info=info,
                diagnostics=diagnostics,
                config=run_config(resolved, label, method, seed),
                reference_key=ref_key,
                version=__version__,
            )
            self.store.write_run(record, kind.stored_outputs(evaluated.outputs, plan.prepared))
            summary.executed.append(f"{plan.name}/{label}/seed{seed}")
            self.log(f"{plan.name}/{label}/seed{seed}: " + ", ".join(f"{k}={v:.4g}" for k, v in metrics.items()))

    def unlearn(self, plan: Plan, method: UnlearningMethod, original: Evaluated[Any], seed: int) -> tuple[Evaluated[Any], dict[str, Any]]:
        """One method on the seed's original (or its own), evaluated, with its diagnostics."""
        kind, resolved, prepared = plan.kind, plan.resolved, plan.prepared
        unlearn_seed = derive_seed(seed, "unlearn")
        if method.role == "retrain":
            trained = self.cache.train(kind, resolved, prepared, prepared.split.retain, unlearn_seed, "retrain")
            return self.evaluate(plan, trained), {**trained.meta, "cached_training": True}
        extra: dict[str, Any] = {}
        start_model = original.model
        if method.original == "own":
            own_task = kind.task(resolved, prepared, torch.Generator().manual_seed(derive_seed(seed, "original")), self.progress)
            own = self.cache.own_original(method, own_task, resolved, prepared, derive_seed(seed, "original"))
            start_model = own.model
            extra["own_original_seconds"] = own.seconds
        task = kind.task(resolved, prepared, torch.Generator().manual_seed(unlearn_seed), self.progress)
        kind.warm_up(start_model, prepared)
        with measure_peak_memory() as peak:
            result: UnlearnResult = method.unlearn(start_model, task)
        outputs = kind.outputs(result.model, prepared)
        return Evaluated(result.model, outputs, result.seconds, peak.mib), {**result.diagnostics, **extra}

