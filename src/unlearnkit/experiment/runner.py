"""The one runner: every kind of experiment through the same skeleton, on any executor.

resolve -> load data, split, forget set (every experiment, before anything
is trained or written) -> per seed: original and reference (content-keyed
model cache) -> the reference record -> methods -> metrics -> run records
with per-example outputs. Population metrics are computed at report time
from the stored outputs.

Each step of a seed is a unit of work (:mod:`.units`) run by an executor
(:mod:`.executor`: in this process by default, or as Ray tasks); the runner
writes every result to the store as it arrives, each in one transaction, so
a sweep killed at any moment resumes with only the unfinished work.

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

from unlearnkit.errors import UnlearnkitError
from unlearnkit.experiment.executor import Executor, Failure, Job, LocalExecutor
from unlearnkit.experiment.keys import reference_key, run_key
from unlearnkit.experiment.model_cache import ModelCache
from unlearnkit.experiment.sweep import RunSummary, Sweep, run_name
from unlearnkit.experiment.units import Plan, PlanCache, WorkContext, metric_info, resolve
from unlearnkit.kinds.schema import ExperimentFields
from unlearnkit.progress import Progress, SilentProgress
from unlearnkit.store import FailureRecord, SQLiteStore

__all__ = ["Plan", "RunSummary", "Runner", "metric_info", "resolve"]


class Runner:
    """Executes experiments of every kind into a store; completed runs are skipped on re-runs."""

    def __init__(
        self,
        store: SQLiteStore,
        *,
        progress: Progress | None = None,
        log: Callable[[str], None] | None = None,
        executor: Executor | None = None,
        cpus_per_unit: int = 1,
    ) -> None:
        self.store = store
        self.progress = progress or SilentProgress()
        self.log = log or (lambda message: None)
        self.executor: Executor = executor or LocalExecutor()
        self.cpus_per_unit = cpus_per_unit
        self.plans = PlanCache()
        self.cache = ModelCache(store, self.progress)

    # -- planning -------------------------------------------------------------
    def plan(self, position: int, config: ExperimentFields) -> Plan:
        plan = self.plans.build(position, config)
        if len(plan.prepared.split.forget) == 0:
            raise UnlearnkitError(f"the forget set is empty: forget = {config.forget.model_dump()} selects no training sample")
        return plan

    def plan_all(self, configs: Sequence[ExperimentFields]) -> list[Plan]:
        """Every experiment's data, split and forget set: a request that cannot be met fails before anything is written."""
        plans = []
        for position, config in enumerate(configs):
            try:
                plans.append(self.plan(position, config))
            except UnlearnkitError as error:
                raise type(error)(f"experiment[{position}] ({config.name!r}): {error}") from error
        return plans

    def save_configuration(self, plan: Plan) -> None:
        """Keep the whole configuration and the run keys it asks for.

        The report reads report-time settings (population metrics) from it,
        and shows only these runs: a label re-run with another recipe
        replaces its earlier rows instead of being averaged with them.
        """
        self.store.save_experiment(plan.name, plan.position, plan.resolved.config.model_dump(mode="json"), plan.run_keys())

    def context(self) -> WorkContext:
        return WorkContext(self.plans, self.progress)

    def sweep(self, summary: RunSummary) -> Sweep:
        return Sweep(self.store, summary, self.log, self.cpus_per_unit)

    def execute(self, sweep: Sweep) -> list[Failure]:
        """Run the sweep's jobs; its results are in the store when this returns, its failures in the summary."""
        failures = self.executor.run(sweep.jobs, self.context(), self.progress)
        sweep.summary.failures += failures
        sweep.summary.units += len(sweep.jobs)
        return failures

    # -- running --------------------------------------------------------------
    def run(self, configs: Sequence[ExperimentFields]) -> RunSummary:
        plans = self.plan_all(configs)
        summary = RunSummary()
        sweep = self.sweep(summary)
        for plan in plans:
            self.save_configuration(plan)
            self.add_plan(sweep, plan)
        self.record_failures("run", plans, self.execute(sweep))
        return summary

    def record_failures(self, command: str, plans: Sequence[Plan], failures: Sequence[Failure]) -> None:
        """Keep what failed in this ``command`` of these experiments (and forget what failed in the one before)."""
        records = [
            FailureRecord(
                key=f.key, command=command, experiment=f.experiment, unit=f.job, error=f.error, traceback=f.traceback,
                attempts=f.attempts, blocked_by=f.blocked_by,
            )
            for f in failures
        ]
        self.store.replace_failures(command, [plan.name for plan in plans], records)

    def run_plan(self, plan: Plan, summary: RunSummary, seeds: Sequence[int] | None = None) -> None:
        """Run one planned experiment (all its seeds, or ``seeds``) now."""
        sweep = self.sweep(summary)
        self.add_plan(sweep, plan, seeds)
        self.record_failures("run", [plan], self.execute(sweep))

    def add_plan(self, sweep: Sweep, plan: Plan, seeds: Sequence[int] | None = None) -> None:
        """The jobs of one experiment: for each seed whose runs or reference are missing, the models it needs and its runs."""
        seeds = plan.resolved.config.seeds if seeds is None else seeds
        pending: dict[int, list[int]] = {}
        for seed in seeds:
            pending[seed] = []
            for position, (label, method) in enumerate(plan.resolved.methods):
                if self.store.has_run(run_key(plan.resolved, label, method, seed)):
                    sweep.summary.skipped.append(run_name(plan, label, seed))
                else:
                    pending[seed].append(position)
        missing_reference = {seed: not self.store.has_reference(reference_key(plan.resolved, seed)) for seed in seeds}
        if not any(pending.values()) and not any(missing_reference.values()):
            self.log(f"{plan.name}: every run is already in the store")
            return
        self.log(f"{plan.name}: split {plan.prepared.split.describe()}")
        for seed in seeds:
            if pending[seed] or missing_reference[seed]:
                self.add_seed(sweep, plan, seed, pending[seed], missing_reference[seed])

    def add_seed(self, sweep: Sweep, plan: Plan, seed: int, positions: list[int], missing_reference: bool) -> None:
        original = sweep.model(plan, "original", seed)
        reference = sweep.model(plan, "reference", seed)
        if missing_reference:
            sweep.reference_record(plan, seed, reference_key(plan.resolved, seed), original, reference)
        for position in positions:
            label, method = plan.resolved.methods[position]
            inputs: tuple[Job, ...] = (original, reference)
            if method.role == "retrain":
                inputs += (sweep.model(plan, "retrain", seed, label),)
            elif method.original == "own":
                inputs += (sweep.own_original(plan, method, seed),)
            sweep.run(plan, position, seed, run_key(plan.resolved, label, method, seed), inputs)
