"""Scale-out through Ray: one task per (experiment, seed), every kind alike, all writing to the same SQLite store.

Each task builds its own :class:`Runner` over the store path, so the model
cache and the skip-completed-runs rule work exactly as in a local run. Ray is
an optional dependency (``pip install 'unlearnkit[ray]'``).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence

from unlearnkit.errors import UnlearnkitError
from unlearnkit.experiment.runner import Runner, RunSummary
from unlearnkit.kinds.schema import ExperimentFields
from unlearnkit.store import SQLiteStore


def _run_unit(store_path: str, position: int, config: ExperimentFields, seed: int, threads: int) -> RunSummary:
    import torch

    torch.set_num_threads(threads)  # a worker process of its own: its thread pool is ours to size
    runner = Runner(SQLiteStore(store_path))
    summary = RunSummary()
    runner.run_plan(runner.plan(position, config), summary, seeds=[seed])
    return summary


def run_with_ray(store_path: str, experiments: Sequence[ExperimentFields], workers: int, address: str | None = None) -> RunSummary:
    """Run every (experiment, seed) as a Ray task on ``workers`` CPUs (or an existing cluster at ``address``)."""
    if importlib.util.find_spec("ray") is None:
        raise UnlearnkitError("--workers needs Ray: pip install 'unlearnkit[ray]'")
    import ray

    # Every request is checked before any task starts; the store keeps each whole configuration for the report.
    runner = Runner(SQLiteStore(store_path))
    plans = runner.plan_all(experiments)
    for plan in plans:
        runner.save_configuration(plan)
    started_here = not ray.is_initialized()
    if started_here:
        if address:
            ray.init(address=address, log_to_driver=False)
        else:
            ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False)
    try:
        unit = ray.remote(num_cpus=1)(_run_unit)
        futures = [
            unit.remote(store_path, plan.position, plan.resolved.config, seed, 1) for plan in plans for seed in plan.resolved.config.seeds
        ]
        summary = RunSummary()
        for part in ray.get(futures):
            summary.extend(part)
        return summary
    finally:
        if started_here:
            ray.shutdown()
