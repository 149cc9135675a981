"""The jobs of one command, built in the driver: what is missing from the store, and how each result is written.

Models are deduplicated by their content key (an experiment's retrained model
is its reference under "untraining"; two experiments with one setting share
their originals), and a model already in the store is read from it instead of
trained. Every ``on_done`` writes one result in one store transaction.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from unlearnkit.experiment.executor import Failure, Job
from unlearnkit.experiment.keys import derive_seed
from unlearnkit.experiment.units import (
    ModelRole,
    OwnOriginalUnit,
    Plan,
    ReferenceResult,
    ReferenceUnit,
    RunResult,
    TrainedState,
    TrainUnit,
    UnlearnUnit,
    WorkContext,
    model_key,
    own_original_key,
)
from unlearnkit.methods.base import UnlearningMethod
from unlearnkit.store import SQLiteStore


@dataclass
class RunSummary:
    """What one command did: runs executed and found stored, models trained, units that failed."""

    executed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    trained: list[str] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    units: int = 0  # units of work run (or attempted)

    def extend(self, other: RunSummary) -> None:
        self.executed += other.executed
        self.skipped += other.skipped
        self.trained += other.trained
        self.failures += other.failures
        self.units += other.units


@dataclass(frozen=True)
class StoredModel:
    """Read a cached model from the store (a job of the driver's: the store is never read remotely)."""

    store: SQLiteStore
    key: str
    role: str
    label: str | None = None

    def __call__(self, context: WorkContext) -> TrainedState:
        cached = self.store.load_model(self.key)
        if cached is None:
            raise LookupError(f"model {self.key} vanished from the store {self.store.path}")
        state, meta = cached
        return TrainedState(self.key, self.role, state, meta, self.label)


def run_name(plan: Plan, label: str, seed: int) -> str:
    return f"{plan.name}/{label}/seed{seed}"


class Sweep:
    """Jobs in dependency order (each after its inputs), each result written by the driver when it arrives."""

    def __init__(self, store: SQLiteStore, summary: RunSummary, log: Callable[[str], None], cpus: int = 1) -> None:
        self.store = store
        self.summary = summary
        self.log = log
        self.cpus = cpus
        self.jobs: list[Job] = []
        self._models: dict[str, Job] = {}

    def add(self, job: Job) -> Job:
        self.jobs.append(job)
        return job

    def _model_job(self, name: str, key: str, role: str, experiment: str, unit: Callable[..., Any], label: str | None = None) -> Job:
        if key in self._models:
            return self._models[key]
        if self.store.has_model(key):
            job = Job(f"{name} (stored)", key, experiment, StoredModel(self.store, key, role, label), in_driver=True)
        else:

            def save(trained: TrainedState) -> None:
                self.store.save_model(trained.key, trained.role, trained.state, trained.meta)
                self.summary.trained.append(name)

            job = Job(name, key, experiment, unit, on_done=save, cpus=self.cpus)
        self._models[key] = self.add(job)
        return job

    def model(self, plan: Plan, role: ModelRole, run_seed: int, label: str | None = None) -> Job:
        """The seed's original (trained on every training row) or reference / retrained model (with the unlearning seed).

        A retrained model for entry ``label`` leaves out what that entry
        unlearns (its forget expansion, when it has one).
        """
        seed = derive_seed(run_seed, "original" if role == "original" else "unlearn")
        label = label if label in plan.expanded else None
        key = model_key(plan, role, seed, label)
        name = f"{plan.name}/train {role}{'' if label is None else f' ({label})'}/seed{run_seed}"
        return self._model_job(name, key, role, plan.name, TrainUnit(plan.ref(), role, seed, key, label), label)

    def own_original(self, plan: Plan, method: UnlearningMethod, run_seed: int) -> Job:
        seed = derive_seed(run_seed, "original")
        key = own_original_key(plan, method, seed)
        unit = OwnOriginalUnit(plan.ref(), type(method), method.get_params(), seed, key)
        role = f"{type(method).__name__} original"
        return self._model_job(f"{plan.name}/train {type(method).__name__} original/seed{run_seed}", key, role, plan.name, unit)

    def reference_record(self, plan: Plan, seed: int, key: str, original: Job, reference: Job) -> Job:
        def write(result: ReferenceResult) -> None:
            self.store.write_reference(result.record, result.outputs, result.arrays)

        unit = ReferenceUnit(plan.ref(), seed)
        return self.add(Job(f"{plan.name}/reference scores/seed{seed}", key, plan.name, unit, (original, reference), write, self.cpus))

    def run(self, plan: Plan, position: int, seed: int, key: str, inputs: tuple[Job, ...]) -> Job:
        label = plan.resolved.methods[position][0]
        name = run_name(plan, label, seed)

        def write(result: RunResult) -> None:
            self.store.write_run(result.record, result.outputs, result.arrays)
            self.summary.executed.append(name)
            self.log(f"{name}: " + ", ".join(f"{k}={v:.4g}" for k, v in result.record.metrics.items()))

        return self.add(Job(name, key, plan.name, UnlearnUnit(plan.ref(), position, seed), inputs, write, self.cpus))
