"""Per-method summary of a defaults run: retain accuracy against the 90 % goal, gap closed, time, resolved defaults.

    python benchmarks/defaults_summary.py STORE EXPERIMENT [EXPERIMENT ...]

For each method, over the seeds run: retain accuracy divided by the
original's (same seed), mean and worst seed, and whether the worst seed
keeps at least 90 % (the issue-16 goal); the gap closed, 1 - avg_gap / the
original's avg_gap (same seed), as mean ± sample std and worst seed; the mean
time as a fraction of retraining's (same seed). A second table lists, per
method, the values the derived defaults took on the first seed (the
parameters left at ``None`` in the configuration, from
``diagnostics["resolved_params"]``). Reads the runs of each experiment's
current configuration (the store's ``current_runs``), read-only.
"""

from __future__ import annotations

import json
import sqlite3
import sys
from collections import defaultdict
from typing import Any

import numpy as np

RETAIN_GOAL = 0.9


def fmt(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def main(store: str, experiments: list[str]) -> None:
    connection = sqlite3.connect(f"file:{store}?mode=ro", uri=True)
    for experiment in experiments:
        rows = connection.execute(
            "SELECT r.label, r.role, r.seed, r.seconds, r.metrics, r.method_position, r.config, r.diagnostics FROM runs r "
            "JOIN current_runs c ON c.run_key = r.run_key WHERE c.experiment = ? ORDER BY r.seed",
            (experiment,),
        ).fetchall()
        retrain = {seed: seconds for _, role, seed, seconds, *_ in rows if role == "retrain"}
        original = {seed: json.loads(m) for label, role, seed, _, m, *_ in rows if role == "original"}
        by_label: dict[str, list[tuple[float, float, float]]] = defaultdict(list)
        resolved: dict[str, str] = {}
        order: dict[str, int] = {}
        for label, role, seed, seconds, metrics_json, position, config_json, diagnostics_json in rows:
            if role != "method" or seed not in original or seed not in retrain:
                continue
            metrics = json.loads(metrics_json)
            retain = metrics["retain_acc"] / original[seed]["retain_acc"]
            closed = 1 - metrics["avg_gap"] / original[seed]["avg_gap"]
            by_label[label].append((retain, closed, seconds / retrain[seed]))
            order[label] = position
            if label not in resolved:
                configured = json.loads(config_json)["method"][2]
                used = json.loads(diagnostics_json).get("resolved_params", {})
                derived = {k: v for k, v in used.items() if configured.get(k) is None and v is not None}
                resolved[label] = ", ".join(f"{k}={fmt(v)}" for k, v in sorted(derived.items())) or "(nothing derived)"
        seeds = sorted(original)
        print(f"### {experiment} (seeds {', '.join(map(str, seeds))})\n")
        print("| method | seeds | retain / original: mean | worst | worst ≥ 0.9 | gap closed: mean ± std | worst | time / retrain |")
        print("|---|---|---|---|---|---|---|---|")
        for label in sorted(by_label, key=order.__getitem__):
            values = np.array(by_label[label])
            std = values[:, 1].std(ddof=1) if len(values) > 1 else float("nan")
            print(
                f"| {label} | {len(values)} | {values[:, 0].mean():.3f} | {values[:, 0].min():.3f} | "
                f"{'yes' if values[:, 0].min() >= RETAIN_GOAL else '**no**'} | {values[:, 1].mean():.3f} ± {std:.3f} | "
                f"{values[:, 1].min():.3f} | {values[:, 2].mean():.3f} |"
            )
        print(f"\nResolved defaults ({experiment}, seed {seeds[0] if seeds else '-'}):\n")
        print("| method | derived values |")
        print("|---|---|")
        for label in sorted(by_label, key=order.__getitem__):
            print(f"| {label} | {resolved[label]} |")
        print()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
