"""Scale-out through Ray: one task per (experiment, seed), all writing to the same SQLite store.

Each task builds its own :class:`Runner` over the store path, so the model
cache and the skip-completed-runs rule work exactly as in a local run. Ray is
an optional dependency (``pip install 'unlearnkit[ray]'``).
"""

from __future__ import annotations

import importlib.util

from unlearnkit.errors import UnlearnkitError
from unlearnkit.experiment.config import ExperimentConfig
from unlearnkit.experiment.resolve import ResolvedExperiment
from unlearnkit.experiment.runner import Runner, RunSummary, save_configuration
from unlearnkit.store import SQLiteStore


def _run_unit(store_path: str, position: int, config: ExperimentConfig, threads: int) -> RunSummary:
    import torch

    torch.set_num_threads(threads)  # a worker process of its own: its thread pool is ours to size
    from unlearnkit.experiment.recsys_runner import RecommendationRunner

    store = SQLiteStore(store_path)
    summary = RunSummary()
    if config.kind == "recommendation":
        recommendation = RecommendationRunner(store)
        recommendation.prepare([config])
        recommendation.run_experiment(position, config, summary)
    else:
        Runner(store).run_experiment(position, ResolvedExperiment.build(config), summary)
    return summary


def run_with_ray(store_path: str, experiments: list[ExperimentConfig], workers: int, address: str | None = None) -> RunSummary:
    """Run every (experiment, seed) as a Ray task on ``workers`` CPUs (or an existing cluster at ``address``)."""
    if importlib.util.find_spec("ray") is None:
        raise UnlearnkitError("--workers needs Ray: pip install 'unlearnkit[ray]'")
    import ray

    # Units see one seed each; the store keeps the whole configuration for the report.
    store = SQLiteStore(store_path)
    for position, config in enumerate(experiments):
        save_configuration(store, position, config)
    started_here = not ray.is_initialized()
    if started_here:
        if address:
            ray.init(address=address, log_to_driver=False)
        else:
            ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False)
    try:
        unit = ray.remote(num_cpus=1)(_run_unit)
        futures = [
            unit.remote(store_path, position, config.model_copy(update={"seeds": [seed]}), 1)
            for position, config in enumerate(experiments)
            for seed in config.seeds
        ]
        summary = RunSummary()
        for part in ray.get(futures):
            summary.executed += part.executed
            summary.skipped += part.skipped
        return summary
    finally:
        if started_here:
            ray.shutdown()
