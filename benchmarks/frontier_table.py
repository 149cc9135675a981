"""Pool a frontier benchmark's cases: gap closed and time fraction per method, over every (experiment, seed).

Usage: python benchmarks/frontier_table.py STORE CSV EXPERIMENT [EXPERIMENT ...]

Each (experiment, seed) is one evaluation case (a forget set and a model
seed). Per run, as in the report: gap_closed = 1 - avg_gap / the original's
avg_gap, time_fraction = seconds / retraining's seconds, both of the same
experiment and seed. Prints a markdown table (mean ± std over cases, the worst
case, the gap components) and the retrain-vs-retrain noise floor, and writes
one CSV row per method for a quality-time frontier plot.
"""

from __future__ import annotations

import csv
import itertools
import sys
from collections import defaultdict

import numpy as np

from unlearnkit.metrics.functional import avg_gap
from unlearnkit.store import RunRecord, SQLiteStore

COMPONENTS = ("retain_acc", "test_acc", "forget_acc", "mia_efficacy")


def per_case(runs: list[RunRecord]) -> dict[str, list[dict[str, float]]]:
    """label -> one dict per case with gap_closed, time_fraction and the raw components."""
    by_case: dict[tuple[str, int], list[RunRecord]] = defaultdict(list)
    for run in runs:
        by_case[(run.experiment, run.seed)].append(run)
    table: dict[str, list[dict[str, float]]] = defaultdict(list)
    for _case, group in sorted(by_case.items()):
        original = next(r for r in group if r.role == "original")
        retrain = next(r for r in group if r.role == "retrain")
        for run in group:
            values = {k: run.metrics[k] for k in COMPONENTS}
            values["gap_closed"] = 1.0 - run.metrics["avg_gap"] / original.metrics["avg_gap"]
            values["time_fraction"] = run.seconds / retrain.seconds
            values["seconds"] = run.seconds
            table[run.label].append(values)
    return table


def noise_floor(runs: list[RunRecord]) -> tuple[float, float]:
    """Mean retrain-vs-retrain avg_gap (points) within each experiment, and as a fraction of the original's gap."""
    gaps, fractions = [], []
    for experiment in sorted({r.experiment for r in runs}):
        retrains = [r for r in runs if r.experiment == experiment and r.role == "retrain"]
        originals = [r for r in runs if r.experiment == experiment and r.role == "original"]
        original_gap = float(np.mean([r.metrics["avg_gap"] for r in originals]))
        for a, b in itertools.combinations(retrains, 2):
            gap = avg_gap(a.metrics, b.metrics)
            gaps.append(gap)
            fractions.append(gap / original_gap)
    return float(np.mean(gaps)), float(np.mean(fractions))


def load_runs(store: str, experiments: list[str]) -> list[RunRecord]:
    """The store's runs of ``experiments``; exits naming any experiment without runs."""
    runs = [r for r in SQLiteStore(store).runs() if r.experiment in experiments]
    missing = sorted(set(experiments) - {r.experiment for r in runs})
    if missing:
        sys.exit(f"no runs of {missing} in {store}")
    return runs


def main(store: str, csv_path: str, experiments: list[str]) -> None:
    runs = load_runs(store, experiments)
    table = per_case(runs)
    print("| method | cases | gap_closed ↑ | worst case | time_fraction ↓ | max | retain_acc | test_acc | forget_acc | mia_efficacy |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    rows = []
    for label, cases in table.items():
        values = {k: np.array([c[k] for c in cases]) for k in cases[0]}
        row = {
            "method": label,
            "cases": len(cases),
            "gap_closed_mean": values["gap_closed"].mean(),
            "gap_closed_std": values["gap_closed"].std(ddof=1),
            "gap_closed_worst": values["gap_closed"].min(),
            "time_fraction_mean": values["time_fraction"].mean(),
            "time_fraction_std": values["time_fraction"].std(ddof=1),
            "time_fraction_max": values["time_fraction"].max(),
            **{f"{k}_mean": values[k].mean() for k in COMPONENTS},
        }
        rows.append(row)
        print(
            f"| {label} | {len(cases)} | {row['gap_closed_mean']:.3f} ± {row['gap_closed_std']:.3f} | {row['gap_closed_worst']:.3f} "
            f"| {row['time_fraction_mean']:.3f} ± {row['time_fraction_std']:.3f} | {row['time_fraction_max']:.3f} | "
            + " | ".join(f"{row[f'{k}_mean']:.3f}" for k in COMPONENTS)
            + " |"
        )
    gap, fraction = noise_floor(runs)
    print(
        f"\nretrain-vs-retrain avg_gap: {gap:.2f} points = {fraction:.3f} of the original's gap "
        f"(ceiling of gap_closed ≈ {1 - fraction:.3f})"
    )
    with open(csv_path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        for row in rows:
            writer.writerow({k: (f"{v:.4f}" if isinstance(v, float) else v) for k, v in row.items()})


if __name__ == "__main__":
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2], sys.argv[3:])
