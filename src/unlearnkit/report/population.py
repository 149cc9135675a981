"""Population metrics at report time: from stored per-example outputs, never from models.

For every method of an experiment that declares ``population_metrics``, the
method's stored runs (one unlearned model per seed, i.e. per original) form
the unlearned population and the stored references of the same seeds form
the reference population.  Each metric gives per-example values and a
statistic; the interval is a percentile bootstrap over examples.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from unlearnkit.errors import UnlearnkitError
from unlearnkit.experiment.config import ExperimentConfig
from unlearnkit.experiment.resolve import population_metrics
from unlearnkit.metrics.population import bootstrap_ci
from unlearnkit.metrics.population_metrics import Population, PopulationMetric
from unlearnkit.report.goals import Ranking, goal_warnings, rank
from unlearnkit.report.tables import REFERENCE_LABELS, run_reference_key
from unlearnkit.store.sqlite import RunRecord, SQLiteStore

BOOTSTRAP_RESAMPLES = 1000
BOOTSTRAP_LEVEL = 0.95
BOOTSTRAP_SEED = 0


@dataclass(frozen=True)
class PopulationValue:
    value: float
    low: float
    high: float
    n_examples: int
    undefined: int  # examples whose per-example value is NaN (e.g. KLoM with nothing counted)


@dataclass(frozen=True)
class PopulationRow:
    label: str
    method: str
    seeds: list[int]
    values: dict[str, PopulationValue]
    # Set when the method's models are the reference models themselves
    # (``retrain`` under "untraining"): comparing a population with itself
    # scores perfectly and says nothing, so no value is shown.
    note: str | None = None


@dataclass(frozen=True)
class PopulationTable:
    experiment: str
    goal: str
    reference: str
    metrics: list[str]
    metric_info: dict[str, dict[str, Any]]
    rows: list[PopulationRow]


def metric_info(metric: PopulationMetric) -> dict[str, Any]:
    return {
        "direction": metric.direction,
        "goals": sorted(metric.goals),
        "notion": metric.notion,
        "needs_reference": True,  # every population metric is a distance to the reference population
        "description": type(metric).description,
    }


def evaluate(metric: PopulationMetric, unlearned: Population, reference: Population) -> PopulationValue:
    """The metric's value and its bootstrap interval over examples."""
    per_example, statistic = metric.evaluate(unlearned, reference)
    value = statistic(per_example)
    undefined = int(np.isnan(per_example).sum())
    if undefined:
        low = high = math.nan
    else:
        low, high = bootstrap_ci(per_example, statistic, BOOTSTRAP_RESAMPLES, BOOTSTRAP_LEVEL, BOOTSTRAP_SEED)
    return PopulationValue(float(value), low, high, int(per_example.size), undefined)


def _identical(a: Population, b: Population) -> bool:
    return a.logits.keys() == b.logits.keys() and all(np.array_equal(a.logits[s], b.logits[s]) for s in a.logits)


def population_tables(store: SQLiteStore, runs: list[RunRecord]) -> list[PopulationTable]:
    """One table per stored experiment that declares population metrics (in the store's latest config)."""
    configs = store.experiment_configs()
    experiments = list(dict.fromkeys(r.experiment for r in sorted(runs, key=lambda r: (r.experiment_position, r.experiment))))
    tables = []
    for name in experiments:
        if name not in configs:
            continue
        config = ExperimentConfig.model_validate(configs[name])
        metrics = population_metrics(config.population_components())
        if metrics:
            tables.append(_experiment_table(store, config, metrics, [r for r in runs if r.experiment == name]))
    return tables


def _experiment_table(
    store: SQLiteStore, config: ExperimentConfig, metrics: list[tuple[str, PopulationMetric]], runs: list[RunRecord]
) -> PopulationTable:
    references = store.references()
    reference_cache: dict[str, dict[str, tuple[np.ndarray, np.ndarray]]] = {}
    labels = list(dict.fromkeys(r.label for r in sorted(runs, key=lambda r: (r.method != "Retrain", r.method_position))))
    rows = []
    for label in labels:
        group = sorted((r for r in runs if r.label == label), key=lambda r: r.seed)
        paired = [r for r in group if run_reference_key(r) in references]
        if len(paired) < 2:
            missing = [r.seed for r in group if run_reference_key(r) not in references]
            hint = (
                f"the references of seeds {missing} are not stored: run `unlearnkit run CONFIG` again (it adds them from the model cache)"
                if missing
                else f"only seeds {[r.seed for r in group]} were run"
            )
            raise UnlearnkitError(
                f"experiment {config.name!r}, method {label!r}: population metrics need at least 2 seeds with stored "
                f"outputs of both the unlearned and the reference models; {hint}"
            )
        for r in paired:
            key = run_reference_key(r)
            if key not in reference_cache:
                reference_cache[key] = store.reference_outputs(key)
        unlearned = Population.stack([store.outputs(r.run_key) for r in paired])
        reference = Population.stack([reference_cache[run_reference_key(r)] for r in paired])
        seeds = [r.seed for r in paired]
        if _identical(unlearned, reference):
            rows.append(PopulationRow(label, group[0].method, seeds, {}, "the reference population itself"))
            continue
        values = {column: evaluate(metric, unlearned, reference) for column, metric in metrics}
        rows.append(PopulationRow(label, group[0].method, seeds, values))
    return PopulationTable(
        experiment=config.name,
        goal=config.goal,
        reference=REFERENCE_LABELS[config.goal],
        metrics=[column for column, _ in metrics],
        metric_info={column: metric_info(metric) for column, metric in metrics},
        rows=rows,
    )


def population_records(tables: list[PopulationTable]) -> list[dict[str, Any]]:
    """JSON-ready records: one per (experiment, method) with each metric's value and interval."""

    def number(x: float) -> float | None:
        return None if math.isnan(x) else x

    return [
        {
            "experiment": table.experiment,
            "goal": table.goal,
            "method": row.label,
            "seeds": row.seeds,
            "note": row.note,
            "goal_warnings": goal_warnings(table),
            "population_metrics": {
                column: {
                    "value": number(v.value),
                    "ci": [number(v.low), number(v.high)],
                    "ci_level": BOOTSTRAP_LEVEL,
                    "n_examples": v.n_examples,
                    "undefined_examples": v.undefined,
                }
                for column, v in row.values.items()
            },
        }
        for table in tables
        for row in table.rows
    ]


def population_rankings(table: PopulationTable) -> list[Ranking]:
    """Methods best first by each population metric (rows without values, i.e. the reference itself, left out)."""
    rankings = []
    for column in table.metrics:
        values = {row.label: row.values[column].value for row in table.rows if column in row.values}
        ranking = rank(table.goal, column, table.metric_info[column], values, None)
        if ranking is not None:
            rankings.append(ranking)
    return rankings
