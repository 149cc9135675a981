"""The units of work of a sweep: train a model, evaluate the reference, unlearn and score one method.

A unit is a small picklable object; calling it with a :class:`WorkContext`
and the results of the units it depends on returns its result. A unit never
touches the store: it receives model states and returns records, outputs and
states, and the driver writes them (see :mod:`.executor`). The same units
run in this process or as Ray tasks on other processes and machines, which
rebuild each experiment's data and split from its configuration once per
process (:class:`PlanCache`) and check that they got the same data.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

from unlearnkit import faults
from unlearnkit.errors import UnlearnkitError
from unlearnkit.experiment.keys import derive_seed, reference_config, reference_key, rows_hash, run_config, run_key, stable_hash
from unlearnkit.experiment.memory import measure_peak_memory
from unlearnkit.kinds.base import Evaluated, ExperimentKind, Prepared, ResolvedExperiment, StoredArrays, StoredOutputs
from unlearnkit.kinds.registry import KINDS
from unlearnkit.kinds.schema import ExperimentFields
from unlearnkit.methods.base import UnlearningMethod, UnlearnResult
from unlearnkit.metrics.base import Metric
from unlearnkit.progress import Progress, ProgressTask, SilentProgress
from unlearnkit.store import ReferenceRecord, RunRecord
from unlearnkit.version import __version__

ModelRole = Literal["original", "reference", "retrain"]


@dataclass(frozen=True, eq=False)
class Plan:
    """One experiment ready to run: its kind, components (built once) and prepared data."""

    position: int
    kind: ExperimentKind[Any, Any]
    resolved: ResolvedExperiment
    prepared: Prepared[Any]
    # method label -> what it unlearns when its entry expands the forget set (the neighbourhood remedy)
    expanded: dict[str, Prepared[Any]] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.resolved.name

    def prepared_for(self, label: str | None) -> Prepared[Any]:
        """The data and split method ``label`` unlearns with (its task); metrics always read :attr:`prepared`."""
        return self.prepared if label is None else self.expanded.get(label, self.prepared)

    def run_keys(self) -> list[str]:
        return [
            run_key(self.resolved, label, method, seed) for seed in self.resolved.config.seeds for label, method in self.resolved.methods
        ]

    def digest(self) -> str:
        """What must be equal wherever this plan is rebuilt: the data's content and the split."""
        split = self.prepared.split
        return stable_hash([self.prepared.fingerprint, rows_hash(split.train), rows_hash(split.forget), rows_hash(split.validation)])

    def rows(self, role: ModelRole, label: str | None = None) -> np.ndarray:
        """The training rows of a model trained from scratch in this experiment (a retrained model: of entry ``label``)."""
        split = self.prepared.split
        if role == "original":
            return split.train
        if role == "reference":
            return self.kind.reference_rows(self.prepared, self.resolved.config.goal)
        return self.prepared_for(label).split.retain

    def ref(self) -> PlanRef:
        return PlanRef(self.position, self.resolved.config, self.digest())


@dataclass(frozen=True)
class PlanRef:
    """What a unit carries to name its experiment: rebuilt into a :class:`Plan` where the unit runs."""

    position: int
    config: ExperimentFields
    digest: str

    @property
    def key(self) -> str:
        return stable_hash([self.position, self.config.model_dump(mode="json")])


def metric_info(metrics: list[tuple[str, Metric]]) -> dict[str, dict[str, Any]]:
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


def one_line(error: BaseException, limit: int = 300) -> str:
    """``Type: message`` on one line (a multi-line message joined), cut at ``limit`` characters."""
    text = " ".join(str(error).split())
    line = f"{type(error).__name__}: {text}" if text else type(error).__name__
    return line if len(line) <= limit else line[: limit - 1] + "…"


# How many evaluated models a process keeps: a seed's original, reference and retrained model, plus one.
_EVALUATED_KEPT = 4


class PlanCache:
    """Plans by (position, configuration), each prepared once per process; datasets loaded once; recent models evaluated once."""

    def __init__(self) -> None:
        self._plans: dict[str, Plan] = {}
        self._data: dict[str, Any] = {}
        self._evaluated: OrderedDict[str, Evaluated[Any]] = OrderedDict()

    def load(self, kind: ExperimentKind[Any, Any], resolved: ResolvedExperiment) -> Any:
        """The experiment's dataset, loaded once per (kind, dataset, parameters)."""
        key = stable_hash([kind.name, resolved.data_params()])
        if key not in self._data:
            self._data[key] = resolved.dataset.load()
        return self._data[key]

    def build(self, position: int, config: ExperimentFields) -> Plan:
        ref_key = stable_hash([position, config.model_dump(mode="json")])
        if ref_key not in self._plans:
            kind, resolved = resolve(config)
            prepared = kind.prepare(resolved, self.load(kind, resolved))
            expanded = {label: kind.expand_forget(resolved, prepared, label) for label in resolved.forget_expansions}
            self._plans[ref_key] = Plan(position, kind, resolved, prepared, expanded)
        return self._plans[ref_key]

    def plan(self, ref: PlanRef) -> Plan:
        plan = self.build(ref.position, ref.config)
        if plan.digest() != ref.digest:
            raise UnlearnkitError(
                f"{ref.config.name}: this process prepared other data or another split than the driver did "
                f"(digest {plan.digest()} != {ref.digest}); every node needs the same unlearnkit version and data files"
            )
        return plan

    def evaluated(self, plan: Plan, trained: TrainedState) -> Evaluated[Any]:
        """The trained model rebuilt from its state, with its outputs (kept for the next units of the same seed)."""
        if trained.key in self._evaluated:
            self._evaluated.move_to_end(trained.key)
            return self._evaluated[trained.key]
        if trained.role not in ("original", "reference", "retrain"):
            raise ValueError(f"a {trained.role!r} model is not one of the experiment's own (original, reference, retrain)")
        role: ModelRole = trained.role  # type: ignore[assignment]  # narrowed to the literal by the check above
        try:
            model = plan.kind.restore(plan.resolved, plan.prepared, plan.rows(role, trained.label), trained.state)
        except RuntimeError as error:  # load_state_dict: missing or unexpected keys, shapes that differ
            raise UnlearnkitError(
                f"{plan.name}: the stored {role} model {trained.key} does not fit this experiment's model ({one_line(error)})"
            ) from error
        evaluated = Evaluated(model, plan.kind.outputs(model, plan.prepared), trained.seconds, trained.peak_memory_mib)
        self._evaluated[trained.key] = evaluated
        while len(self._evaluated) > _EVALUATED_KEPT:
            self._evaluated.popitem(last=False)
        return evaluated


class _ReportingTask:
    """A progress bar's task that also marks the fault-injection point of long loops."""

    def __init__(self, task: ProgressTask) -> None:
        self._task = task

    def advance(self, steps: int = 1) -> None:
        self._task.advance(steps)
        faults.reached("progress")


class FaultPointProgress:
    """Wraps a progress reporter: every step of a long loop is a point where the tests may kill the process."""

    def __init__(self, progress: Progress) -> None:
        self._progress = progress

    @contextmanager
    def task(self, description: str, total: int) -> Iterator[ProgressTask]:
        with self._progress.task(description, total) as task:
            yield _ReportingTask(task)


@dataclass
class WorkContext:
    """What a unit may use where it runs: the process's plans and a progress reporter."""

    plans: PlanCache = field(default_factory=PlanCache)
    progress: Progress = field(default_factory=SilentProgress)


# -- results ------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class TrainedState:
    """A model trained from scratch, as a state dict: what the store's model cache keeps."""

    key: str
    role: str
    state: dict[str, torch.Tensor]
    meta: dict[str, Any]
    label: str | None = None  # a retrained model of an entry that expands the forget set: that entry's label

    @property
    def seconds(self) -> float:
        return float(self.meta["seconds"])

    @property
    def peak_memory_mib(self) -> float | None:
        value = self.meta.get("peak_memory_mib")
        return None if value is None else float(value)


@dataclass(frozen=True, eq=False)
class RunResult:
    record: RunRecord
    outputs: StoredOutputs
    arrays: StoredArrays


@dataclass(frozen=True, eq=False)
class ReferenceResult:
    record: ReferenceRecord
    outputs: StoredOutputs
    arrays: StoredArrays


def stored_arrays(plan: Plan, ctx: Any) -> StoredArrays:
    """What a model stores beyond its logits: the kind's arrays and each metric's per-example arrays (``metric/name``)."""
    arrays = dict(plan.kind.stored_arrays(plan.prepared))
    for name, metric in plan.resolved.metrics:
        arrays.update({f"{name}/{key}": value for key, value in metric.arrays(ctx).items()})
    return arrays


# -- units ----------------------------------------------------------------------------


def training_key(kind: ExperimentKind[Any, Any], resolved: ResolvedExperiment, prepared: Prepared[Any], rows: np.ndarray, seed: int) -> str:
    """The content key of a model trained from scratch: everything that determines its parameters.

    The kind, the data's content, the exact training rows, the validation
    rows (early stopping may read them), the model builder and its
    parameters, the recipe, the seed and the package version.
    """
    builder, spec = resolved.model_builder, resolved.train_spec
    return stable_hash(
        [kind.name, prepared.fingerprint, rows_hash(rows), rows_hash(prepared.split.validation),
         type(builder).__name__, builder.get_params(), spec.get_params(), seed, __version__]
    )


def model_key(plan: Plan, role: ModelRole, seed: int, label: str | None = None) -> str:
    return training_key(plan.kind, plan.resolved, plan.prepared_for(label), plan.rows(role, label), seed)


def fit_from_scratch(
    kind: ExperimentKind[Any, Any], resolved: ResolvedExperiment, prepared: Prepared[Any], rows: np.ndarray, seed: int,
    progress: Progress, description: str,
) -> tuple[nn.Module, dict[str, Any]]:
    """A model trained from scratch and its metadata (training log, wall time, peak memory)."""
    with measure_peak_memory() as peak:
        start = time.perf_counter()
        model, log = kind.fit(resolved, prepared, rows, torch.Generator().manual_seed(seed), FaultPointProgress(progress), description)
        seconds = time.perf_counter() - start
    # Trained weights depend on torch's thread count (summation order), so it is on record.
    return model, {**log, "seconds": seconds, "peak_memory_mib": peak.mib, "torch_threads": torch.get_num_threads()}


@dataclass(frozen=True)
class TrainUnit:
    """Train the original, the reference or the retrained model of one seed from scratch."""

    plan: PlanRef
    role: ModelRole
    seed: int  # the training seed (derived from the run seed)
    key: str
    label: str | None = None  # a retrained model: the entry whose forget set it leaves out (None: the experiment's)

    def __call__(self, context: WorkContext) -> TrainedState:
        plan = context.plans.plan(self.plan)
        description = f"{plan.name}: train {self.role}"
        prepared, rows = plan.prepared_for(self.label), plan.rows(self.role, self.label)
        model, meta = fit_from_scratch(plan.kind, plan.resolved, prepared, rows, self.seed, context.progress, description)
        return TrainedState(self.key, self.role, model.state_dict(), meta, self.label)


def own_original_key(plan: Plan, method: UnlearningMethod, seed: int) -> str:
    builder, spec, prepared = plan.resolved.model_builder, plan.resolved.train_spec, plan.prepared
    return stable_hash(
        ["own original", type(method).__name__, method.get_params(), prepared.fingerprint, rows_hash(prepared.split.train),
         rows_hash(prepared.split.validation), type(builder).__name__, builder.get_params(), spec.get_params(), seed, __version__]
    )


@dataclass(frozen=True)
class OwnOriginalUnit:
    """Train the original a method brings itself (``method.original == "own"``, e.g. a sharded ensemble)."""

    plan: PlanRef
    method: type[UnlearningMethod]
    params: dict[str, Any]
    seed: int
    key: str

    def __call__(self, context: WorkContext) -> TrainedState:
        plan = context.plans.plan(self.plan)
        method = self.method.from_params(self.params)
        task = plan.kind.task(plan.resolved, plan.prepared, torch.Generator().manual_seed(self.seed), FaultPointProgress(context.progress))
        with measure_peak_memory() as peak:
            start = time.perf_counter()
            model = method.train_original(task)
            seconds = time.perf_counter() - start
        model.eval()
        state, extra = method.original_state(model)
        meta = {**extra, "seconds": seconds, "peak_memory_mib": peak.mib, "torch_threads": torch.get_num_threads()}
        return TrainedState(self.key, f"{self.method.__name__} original", state, meta)


def restore_own_original(plan: Plan, method: UnlearningMethod, trained: TrainedState, seed: int, progress: Progress) -> nn.Module:
    task = plan.kind.task(plan.resolved, plan.prepared, torch.Generator().manual_seed(seed), progress)
    model: nn.Module = method.restore_original(task, trained.state, trained.meta)
    return model


@dataclass(frozen=True)
class ReferenceUnit:
    """Score the seed's reference against itself: the target values the report compares methods with."""

    plan: PlanRef
    seed: int

    def __call__(self, context: WorkContext, original: TrainedState, reference: TrainedState) -> ReferenceResult:
        plan = context.plans.plan(self.plan)
        kind, resolved = plan.kind, plan.resolved
        original_evaluated, reference_evaluated = context.plans.evaluated(plan, original), context.plans.evaluated(plan, reference)
        ctx = kind.metric_context(plan.prepared, reference_evaluated, reference_evaluated, original_evaluated, self.seed)
        record = ReferenceRecord(
            reference_key=reference_key(resolved, self.seed),
            experiment=plan.name,
            kind=kind.name,
            goal=resolved.config.goal,
            seed=self.seed,
            seconds=reference_evaluated.seconds,
            metrics={name: float(metric.compute(ctx)) for name, metric in resolved.metrics},
            metric_info=metric_info(resolved.metrics),
            config=reference_config(resolved, self.seed),
            version=__version__,
        )
        return ReferenceResult(record, kind.stored_outputs(reference_evaluated.outputs, plan.prepared), stored_arrays(plan, ctx))


@dataclass(frozen=True)
class UnlearnUnit:
    """One method on one seed's original (or its own, or the cached retrained model), evaluated and scored."""

    plan: PlanRef
    method_position: int
    seed: int

    def __call__(
        self, context: WorkContext, original: TrainedState, reference: TrainedState, start: TrainedState | None = None
    ) -> RunResult:
        plan = context.plans.plan(self.plan)
        kind, resolved = plan.kind, plan.resolved
        label, method = resolved.methods[self.method_position]
        original_evaluated, reference_evaluated = context.plans.evaluated(plan, original), context.plans.evaluated(plan, reference)
        evaluated, diagnostics = self._unlearn(context, plan, label, method, original_evaluated, start)
        ctx = kind.metric_context(plan.prepared, evaluated, reference_evaluated, original_evaluated, self.seed)
        metrics = {name: float(metric.compute(ctx)) for name, metric in resolved.metrics}
        record = RunRecord(
            run_key=run_key(resolved, label, method, self.seed),
            experiment=plan.name,
            experiment_position=plan.position,
            kind=kind.name,
            method=type(method).__name__,
            label=label,
            role=type(method).role,
            method_position=self.method_position,
            seed=self.seed,
            goal=resolved.config.goal,
            seconds=evaluated.seconds,
            peak_memory_mib=evaluated.peak_memory_mib,
            metrics=metrics,
            metric_info=metric_info(resolved.metrics),
            diagnostics=diagnostics,
            config=run_config(resolved, label, method, self.seed),
            reference_key=reference_key(resolved, self.seed),
            version=__version__,
        )
        return RunResult(record, kind.stored_outputs(evaluated.outputs, plan.prepared), stored_arrays(plan, ctx))

    def _unlearn(
        self, context: WorkContext, plan: Plan, label: str, method: UnlearningMethod, original: Evaluated[Any], start: TrainedState | None
    ) -> tuple[Evaluated[Any], dict[str, Any]]:
        """The method's model and diagnostics.

        It unlearns what its entry asks for (its forget expansion, if any) and
        is evaluated on the experiment's own split, so every row is scored on
        the same examples.
        """
        kind, prepared = plan.kind, plan.prepared_for(label)
        extra: dict[str, Any] = {}
        if prepared is not plan.prepared:
            extra["forget_size"] = int(prepared.split.forget.size)
        if method.role == "retrain":
            # Retraining is the cached model trained on the retain set with the unlearning seed: the very model
            # ``Retrain().unlearn`` would train (same seed, same recipe); its time is that training's.
            if start is None:
                raise ValueError("a retrain row needs the retrained model")
            return context.plans.evaluated(plan, start), {**start.meta, "cached_training": True, **extra}
        start_model = original.model
        if method.original == "own":
            if start is None:
                raise ValueError(f"{type(method).__name__} needs its own original")
            start_model = restore_own_original(plan, method, start, derive_seed(self.seed, "original"), context.progress)
            extra["own_original_seconds"] = start.seconds
        progress = FaultPointProgress(context.progress)
        task = kind.task(plan.resolved, prepared, torch.Generator().manual_seed(derive_seed(self.seed, "unlearn")), progress)
        kind.warm_up(start_model, prepared)
        with measure_peak_memory() as peak:
            result: UnlearnResult = method.unlearn(start_model, task)
        outputs = kind.outputs(result.model, plan.prepared)
        # Results depend on torch's thread count (summation order), so it is on record with the run.
        diagnostics = {**result.diagnostics, **extra, "torch_threads": torch.get_num_threads()}
        return Evaluated(result.model, outputs, result.seconds, peak.mib), diagnostics


Unit = Callable[..., Any]
