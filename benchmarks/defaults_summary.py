"""Per-method worst cases of a defaults run: retain accuracy relative to the original, gap closed, per seed.

    python benchmarks/defaults_summary.py STORE EXPERIMENT [EXPERIMENT ...]

For each method: the mean and the worst seed of retain accuracy divided by the
original's (same seed), the mean and worst gap closed (1 - avg_gap / the
original's avg_gap, same seed), and the mean time fraction of retraining.
Reads the runs of each experiment's current configuration (the store's
``current_runs``); the time fraction is against the retrain row of the same seed.
"""

from __future__ import annotations

import json
import sqlite3
import sys
from collections import defaultdict

import numpy as np


def main(store: str, experiments: list[str]) -> None:
    connection = sqlite3.connect(store)
    for experiment in experiments:
        rows = connection.execute(
            "SELECT r.label, r.role, r.seed, r.seconds, r.metrics, r.method_position FROM runs r "
            "JOIN current_runs c ON c.run_key = r.run_key WHERE c.experiment = ?",
            (experiment,),
        ).fetchall()
        retrain = {seed: seconds for _, role, seed, seconds, _, _ in rows if role == "retrain"}
        original = {seed: json.loads(m) for label, role, seed, _, m, _ in rows if role == "original"}
        by_label: dict[str, list[tuple[float, float, float]]] = defaultdict(list)
        order: dict[str, int] = {}
        for label, role, seed, seconds, metrics_json, position in rows:
            if role != "method":
                continue
            metrics = json.loads(metrics_json)
            retain = metrics["retain_acc"] / original[seed]["retain_acc"]
            closed = 1 - metrics["avg_gap"] / original[seed]["avg_gap"]
            by_label[label].append((retain, closed, seconds / retrain[seed]))
            order[label] = position
        print(f"### {experiment}\n")
        print("| method | seeds | retain / original: mean | worst | gap closed: mean | worst | time fraction |")
        print("|---|---|---|---|---|---|---|")
        for label in sorted(by_label, key=order.__getitem__):
            values = np.array(by_label[label])
            print(
                f"| {label} | {len(values)} | {values[:, 0].mean():.3f} | {values[:, 0].min():.3f} | "
                f"{values[:, 1].mean():.3f} | {values[:, 1].min():.3f} | {values[:, 2].mean():.3f} |"
            )
        print()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
