"""Population metrics at report time: from stored per-example outputs, never from models.

For every method of an experiment that declares ``population_metrics``, the
runs of its latest stored configuration (one unlearned model per seed, i.e.
per original) form the unlearned population and the references those runs
were compared with (each run records its reference's key) form the reference
population. Only the store is read: the metric list comes from the stored
configuration, the populations from stored outputs.  Each metric gives per-example values and a
statistic; the interval is a percentile bootstrap over examples.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from unlearnkit.errors import UnlearnkitError
from unlearnkit.metrics.population import bootstrap_ci
from unlearnkit.metrics.population_metrics import Population, PopulationMetric, population_label
from unlearnkit.metrics.registry import POPULATION_METRICS
from unlearnkit.report.goals import Ranking, goal_warnings, rank
from unlearnkit.report.tables import REFERENCE_LABELS
from unlearnkit.store import Outputs, RunRecord, StoreReader

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


def _configured_metrics(name: str, config: dict[str, Any]) -> list[tuple[str, PopulationMetric]]:
    """``(column, metric)`` of the population metrics a stored configuration declares."""
    metrics = []
    for entry in config.get("population_metrics", []):
        metric_name, params = (entry, {}) if isinstance(entry, str) else (entry["name"], {k: v for k, v in entry.items() if k != "name"})
        if metric_name not in POPULATION_METRICS:
            raise UnlearnkitError(
                f"experiment {name!r} asks for population metric {metric_name!r}, which this version of unlearnkit does not "
                f"have (it has {', '.join(POPULATION_METRICS)}); run its configuration again to replace it"
            )
        metrics.append((population_label(metric_name, params), POPULATION_METRICS[metric_name].from_params(params)))
    return metrics


def population_tables(store: StoreReader, runs: list[RunRecord]) -> list[PopulationTable]:
    """One table per experiment among ``runs`` whose latest stored configuration declares population metrics."""
    configs = store.experiment_configs()
    experiments = list(dict.fromkeys(r.experiment for r in sorted(runs, key=lambda r: (r.experiment_position, r.experiment))))
    tables = []
    for name in experiments:
        if name not in configs:
            continue  # a store written before configurations were kept
        metrics = _configured_metrics(name, configs[name])
        if metrics:
            tables.append(_experiment_table(store, name, configs[name], metrics, [r for r in runs if r.experiment == name]))
    return tables


def retrain_against(runs: list[RunRecord]) -> dict[int, RunRecord]:
    """Per seed, the ``retrain`` row that retrains without S itself (not an expanded forget set): the A(D∖S) oracle."""
    return {r.seed: r for r in runs if r.role == "retrain" and "forget_expansion" not in r.config}


def population_against_retrain(store: StoreReader, runs: list[RunRecord]) -> PopulationTable | None:
    """The configuration's population metrics against the ``retrain`` rows (A(D∖S)), for an "unlearning" experiment.

    Its reference is retraining without the whole forget distribution; this
    second table puts every method next to the other oracle. None when the
    experiment declares no population metrics or has no retrain row.
    """
    if not runs or runs[0].goal != "unlearning":
        return None
    name = runs[0].experiment
    configs = store.experiment_configs()
    metrics = _configured_metrics(name, configs[name]) if name in configs else []
    retrains = retrain_against(runs)
    if not metrics or len(retrains) < 2:
        return None
    table = _experiment_table(
        store, name, configs[name], metrics, runs, lambda run: store.outputs(retrains[run.seed].run_key) if run.seed in retrains else None,
    )
    # The question it answers is untraining's: are the models indistinguishable from retraining without S?
    return PopulationTable(table.experiment, "untraining", REFERENCE_LABELS["untraining"], table.metrics, table.metric_info, table.rows)


def _experiment_table(
    store: StoreReader,
    name: str,
    config: dict[str, Any],
    metrics: list[tuple[str, PopulationMetric]],
    runs: list[RunRecord],
    reference_of: Callable[[RunRecord], Outputs | None] | None = None,
) -> PopulationTable:
    """Populations of exactly the configuration's current runs, paired by seed with the references they were compared with.

    ``reference_of`` replaces the stored references by other models' outputs (e.g. the retrain rows).
    """
    references = store.references()
    if reference_of is None:

        def reference_of(run: RunRecord) -> Outputs | None:
            return store.reference_outputs(run.reference_key) if run.reference_key in references else None

    goal = runs[0].goal
    seeds = list(config.get("seeds", sorted({r.seed for r in runs})))
    labels = [label for _, label in sorted({(r.method_position, r.label) for r in runs})]
    rows = []
    for label in labels:
        stored = sorted((r for r in runs if r.label == label), key=lambda r: r.seed)
        reference_outputs = {r.run_key: reference_of(r) for r in stored}
        paired = [r for r in stored if reference_outputs[r.run_key] is not None]
        if len(paired) < 2:
            raise UnlearnkitError(
                f"experiment {name!r}, method {label!r}: population metrics need at least 2 seeds with stored "
                f"outputs of both the unlearned and the reference models; of seeds {seeds}, runs are stored for "
                f"{[r.seed for r in stored]} and references for {[r.seed for r in paired]}. Run `unlearnkit run` on the "
                "configuration (stored runs are skipped, missing references come from the model cache)"
            )
        unlearned = Population.stack([store.outputs(r.run_key) for r in paired])
        reference = Population.stack([o for r in paired if (o := reference_outputs[r.run_key]) is not None])
        method_class = paired[0].method
        if _identical(unlearned, reference):
            rows.append(PopulationRow(label, method_class, [r.seed for r in paired], {}, "the reference population itself"))
            continue
        values = {column: evaluate(metric, unlearned, reference) for column, metric in metrics}
        rows.append(PopulationRow(label, method_class, [r.seed for r in paired], values))
    return PopulationTable(
        experiment=name,
        goal=goal,
        reference=REFERENCE_LABELS[goal],
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
