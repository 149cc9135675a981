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
        rows = []
        labels = sorted({(_order(r), r.label) for r in runs})
        for _, label in labels:
            group = [r for r in runs if r.label == label]
            values = {m: np.array([r.metrics[m] for r in group if m in r.metrics], dtype=float) for m in metrics}
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
