"""Aggregating stored runs into per-experiment tables (mean and std over seeds)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from unlearnkit.store.sqlite import RunRecord


@dataclass(frozen=True)
class MethodRow:
    label: str
    method: str
    seeds: list[int]
    mean: dict[str, float]
    std: dict[str, float]


@dataclass(frozen=True)
class ExperimentTable:
    experiment: str
    goal: str
    metrics: list[str]
    metric_info: dict[str, dict[str, Any]]
    rows: list[MethodRow]


def _order(record: RunRecord) -> tuple[int, int]:
    # Retraining is the reference: first row of every table.
    return (0 if record.method == "Retrain" else 1, record.method_position)


# Columns derived from other rows of the same seed: name -> (direction, notion, description).
DERIVED = {
    "gap_closed": ("higher", "untraining", "1 - avg_gap / the original's avg_gap (same seed): share of the distance to retrain removed"),
    "time_fraction": ("lower", "efficiency", "wall_time / retrain's wall_time (same seed)"),
}


def _derived_per_run(runs: list[RunRecord]) -> dict[str, dict[str, float]]:
    """gap_closed needs an ``original`` row, time_fraction a ``retrain`` row, of the same seed."""
    originals = {r.seed: r for r in runs if r.method == "Original"}
    retrains = {r.seed: r for r in runs if r.method == "Retrain"}
    derived: dict[str, dict[str, float]] = {}
    for run in runs:
        values = {}
        original = originals.get(run.seed)
        if original is not None and "avg_gap" in run.metrics and original.metrics.get("avg_gap", 0.0) > 0:
            values["gap_closed"] = 1.0 - run.metrics["avg_gap"] / original.metrics["avg_gap"]
        retrain = retrains.get(run.seed)
        if retrain is not None and retrain.seconds > 0 and run.method != "Original":
            values["time_fraction"] = run.seconds / retrain.seconds
        derived[run.run_key] = values
    return derived


def summarise(records: list[RunRecord]) -> list[ExperimentTable]:
    """One table per experiment, retrain first, then the configuration's method order."""
    tables = []
    experiments = sorted({(r.experiment_position, r.experiment) for r in records})
    for _, experiment in experiments:
        runs = [r for r in records if r.experiment == experiment]
        metrics = list(dict.fromkeys(name for r in runs for name in r.metrics))
        info: dict[str, dict[str, Any]] = {}
        for r in runs:
            info.update(r.metric_info)
        derived = _derived_per_run(runs)
        for name, (direction, notion, _) in DERIVED.items():
            if any(name in d for d in derived.values()):
                metrics.append(name)
                info[name] = {"direction": direction, "goals": ["unlearning", "untraining"], "notion": notion, "needs_reference": True}
        rows = []
        labels = sorted({(_order(r), r.label) for r in runs})
        for _, label in labels:
            group = [r for r in runs if r.label == label]
            per_run = [{**r.metrics, **derived.get(r.run_key, {})} for r in group]
            values = {m: np.array([v[m] for v in per_run if m in v], dtype=float) for m in metrics}
            rows.append(
                MethodRow(
                    label=label,
                    method=group[0].method,
                    seeds=sorted(r.seed for r in group),
                    mean={m: float(v.mean()) for m, v in values.items() if v.size},
                    std={m: float(v.std(ddof=1)) if v.size > 1 else float("nan") for m, v in values.items() if v.size},
                )
            )
        tables.append(ExperimentTable(experiment, runs[0].goal, metrics, info, rows))
    return tables


def to_records(tables: list[ExperimentTable]) -> list[dict[str, Any]]:
    """One JSON-ready record per (experiment, method) with the metric means and stds."""
    return [
        {
            "experiment": table.experiment,
            "goal": table.goal,
            "method": row.label,
            "method_class": row.method,
            "seeds": row.seeds,
            "metrics": row.mean,
            "std": {m: (None if math.isnan(s) else s) for m, s in row.std.items()},
        }
        for table in tables
        for row in table.rows
    ]
