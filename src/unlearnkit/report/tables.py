"""Aggregating stored runs into per-experiment tables (mean and std over seeds)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from unlearnkit.store import ReferenceRecord, RunRecord

REFERENCE_LABELS = {
    "untraining": "reference (retrain on D∖S)",
    "unlearning": "reference (retrain on D∖supp(P_f))",
}


@dataclass(frozen=True)
class MethodRow:
    label: str
    method: str
    seeds: list[int]
    mean: dict[str, float]
    std: dict[str, float]
    # The row every "≈R" metric is compared with: the retrain method under
    # "untraining" (it *is* the reference model), the stored reference row
    # under "unlearning" (retraining without the whole forget distribution).
    is_reference: bool = False


@dataclass(frozen=True)
class ExperimentTable:
    experiment: str
    goal: str
    metrics: list[str]
    metric_info: dict[str, dict[str, Any]]
    rows: list[MethodRow]

    @property
    def reference_row(self) -> MethodRow | None:
        return next((row for row in self.rows if row.is_reference), None)


def _order(record: RunRecord) -> tuple[int, int]:
    # Retraining is the reference: first row of every table.
    return (0 if record.role == "retrain" else 1, record.method_position)


# Columns derived from other rows of the same seed: name -> (direction, notion, description).
DERIVED = {
    "gap_closed": ("higher", "untraining", "1 - avg_gap / the original's avg_gap (same seed): share of the distance to retrain removed"),
    "time_fraction": ("lower", "efficiency", "wall_time / retrain's wall_time (same seed)"),
}


def _derived_per_run(runs: list[RunRecord]) -> dict[str, dict[str, float]]:
    """gap_closed needs an ``original`` row, time_fraction a ``retrain`` row, of the same seed."""
    originals = {r.seed: r for r in runs if r.role == "original"}
    retrains = {r.seed: r for r in runs if r.role == "retrain"}
    derived: dict[str, dict[str, float]] = {}
    for run in runs:
        values = {}
        original = originals.get(run.seed)
        if original is not None and "avg_gap" in run.metrics and original.metrics.get("avg_gap", 0.0) > 0:
            values["gap_closed"] = 1.0 - run.metrics["avg_gap"] / original.metrics["avg_gap"]
        retrain = retrains.get(run.seed)
        if retrain is not None and retrain.seconds > 0 and run.role != "original":
            values["time_fraction"] = run.seconds / retrain.seconds
        derived[run.run_key] = values
    return derived


def _row(label: str, method: str, seeds: list[int], metrics: list[str], values_of: list[dict[str, float]], is_reference: bool) -> MethodRow:
    values = {m: np.array([v[m] for v in values_of if m in v], dtype=float) for m in metrics}
    return MethodRow(
        label=label,
        method=method,
        seeds=sorted(seeds),
        mean={m: float(v.mean()) for m, v in values.items() if v.size},
        std={m: float(v.std(ddof=1)) if v.size > 1 else float("nan") for m, v in values.items() if v.size},
        is_reference=is_reference,
    )


def summarise(records: list[RunRecord], references: dict[str, ReferenceRecord] | None = None) -> list[ExperimentTable]:
    """One table per experiment: the reference first, then the configuration's method order.

    Under "untraining" the ``retrain`` row is the reference.  Otherwise (or
    without a retrain method) the stored reference models of the
    experiment's runs, when ``references`` holds them, form a row of their own.
    """
    tables = []
    experiments = sorted({(r.experiment_position, r.experiment) for r in records})
    for _, experiment in experiments:
        runs = [r for r in records if r.experiment == experiment]
        goal = runs[0].goal
        metrics = list(dict.fromkeys(name for r in runs for name in r.metrics))
        info: dict[str, dict[str, Any]] = {}
        for r in runs:
            info.update(r.metric_info)
        retrain_is_reference = goal == "untraining" and any(r.role == "retrain" for r in runs)
        derived = _derived_per_run(runs)
        for name, (direction, notion, _) in DERIVED.items():
            if any(name in d for d in derived.values()):
                metrics.append(name)
                goals = ["untraining"] if notion == "untraining" else ["unlearning", "untraining"]  # gap_closed inherits avg_gap's goal
                info[name] = {"direction": direction, "goals": goals, "notion": notion, "needs_reference": True}
        rows = []
        if references and not retrain_is_reference:
            keys = {r.reference_key for r in runs}
            stored = sorted((references[k] for k in keys if k in references), key=lambda ref: ref.seed)
            if stored:
                rows.append(
                    _row(REFERENCE_LABELS[goal], "Reference", [ref.seed for ref in stored], metrics, [ref.metrics for ref in stored], True)
                )
        labels = sorted({(_order(r), r.label) for r in runs})
        for _, label in labels:
            group = [r for r in runs if r.label == label]
            is_reference = retrain_is_reference and group[0].role == "retrain"
            per_run = [{**r.metrics, **derived.get(r.run_key, {})} for r in group]
            rows.append(_row(label, group[0].method, [r.seed for r in group], metrics, per_run, is_reference))
        tables.append(ExperimentTable(experiment, goal, metrics, info, rows))
    return tables


def to_records(tables: list[ExperimentTable]) -> list[dict[str, Any]]:
    """One JSON-ready record per (experiment, method) with the metric means and stds."""
    return [
        {
            "experiment": table.experiment,
            "goal": table.goal,
            "method": row.label,
            "method_class": row.method,
            "is_reference": row.is_reference,
            "seeds": row.seeds,
            "metrics": row.mean,
            "std": {m: (None if math.isnan(s) else s) for m, s in row.std.items()},
        }
        for table in tables
        for row in table.rows
    ]
