"""Does the oracle-free score track the gap to retraining on cases it was not tuned on?

Usage: python benchmarks/transfer/score_check.py STORE BENCH

For every evaluation case (experiment x seed) of a transfer benchmark's store,
the oracle-free score of every method row is recomputed from its stored
outputs (forget, calibration, validation and retain logits; the case's
original row as the original; the retrain row's time as the time unit) with
the kind's own criterion, and compared with the row's gap closed, which needs
the retrained model. Prints Spearman's rank correlation between −score and
gap closed per case (1 = the score orders the rows as retraining would), how
often the recipe with the best score among a method's recipes in a case is
also the one with the best gap closed, and the gap closed a user would get by
re-selecting among a method's recipes on each case by the score (possible at
deletion time, since the score needs no retrained model) on the unseen cases.
"""

from __future__ import annotations

import sys
from collections import defaultdict
from typing import Any

import numpy as np
import torch
from scipy.stats import spearmanr

from unlearnkit.experiment.config import parse_experiments
from unlearnkit.experiment.runner import resolve
from unlearnkit.metrics.base import ModelOutputs
from unlearnkit.metrics.oracle_free import oracle_free_score
from unlearnkit.store import StoreReader
from unlearnkit.store.records import RunRecord


def _outputs(reader: StoreReader, run: RunRecord) -> ModelOutputs:
    stored = reader.outputs(run.run_key)
    return ModelOutputs(
        {name: torch.as_tensor(logits) for name, (logits, _) in stored.items()},
        {name: torch.as_tensor(labels) for name, (_, labels) in stored.items()},
    )


def main(store: str, bench: str) -> None:
    reader = StoreReader(store)
    configs = reader.experiment_configs()
    by_case: dict[tuple[str, int], list[RunRecord]] = defaultdict(list)
    for run in reader.current_runs():
        if run.experiment.startswith(f"{bench}_") and not run.experiment.endswith("_tuning"):
            by_case[(run.experiment, run.seed)].append(run)
    prepared_by_experiment: dict[str, Any] = {}
    rhos, agree, compared = [], 0, 0
    picked: dict[str, list[float]] = defaultdict(list)  # method -> gap closed of the per-case pick (unseen cases)
    print("| case | rows | Spearman(−score, gap closed) |")
    print("|---|---|---|")
    for (experiment, seed), runs in sorted(by_case.items()):
        if experiment not in prepared_by_experiment:
            (config,) = parse_experiments({"experiment": [configs[experiment]]}, experiment)
            kind, resolved = resolve(config)
            prepared_by_experiment[experiment] = (kind, resolved, kind.prepare(resolved, resolved.dataset.load()))
        kind, resolved, prepared = prepared_by_experiment[experiment]
        roles = {run.role: run for run in runs}
        original, retrain = roles["original"], roles["retrain"]
        original_outputs = _outputs(reader, original)
        scored = []
        for run in runs:
            if run.role != "method":
                continue
            criteria = kind.oracle_free_criteria(resolved, prepared, _outputs(reader, run), original_outputs)
            score = oracle_free_score(criteria, run.seconds, retrain.seconds)
            closed = 1.0 - run.metrics["avg_gap"] / original.metrics["avg_gap"]
            scored.append((run.label.rpartition("_")[0], score.total if score.feasible else np.inf, closed))
        values = np.array([(s, c) for _, s, c in scored if np.isfinite(s)])
        rho = float(spearmanr(-values[:, 0], values[:, 1]).statistic)
        rhos.append(rho)
        print(f"| {experiment.removeprefix(bench + '_')}/s{seed} | {len(scored)} | {rho:.2f} |")
        per_method: dict[str, list[tuple[float, float]]] = defaultdict(list)
        for method, s, c in scored:
            per_method[method].append((s, c))
        for method, rows in per_method.items():
            if len(rows) > 1:
                compared += 1
                agree += int(min(rows)[1] == max(c for _, c in rows))
            if not experiment.endswith("_tuned"):
                picked[method].append(min(rows)[1])
    print(f"\nmean Spearman over {len(rhos)} cases: {np.mean(rhos):.2f} ± {np.std(rhos):.2f} (min {np.min(rhos):.2f})")
    print(f"best-score recipe is the best gap-closed recipe for {agree} of {compared} (method, case) pairs with a choice")
    print("\n| method | re-selected per unseen case by the score: gap closed mean ± std (n) | worst |")
    print("|---|---|---|")
    for method, closed in picked.items():
        values = np.array(closed)
        print(f"| {method} | {values.mean():.3f} ± {values.std():.3f} ({values.size}) | {values.min():.3f} |")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
