"""Time fraction of unlearning methods against retraining, measured interleaved in one process.

Usage: python benchmarks/frontier_timing.py CONFIG STORE ROUNDS LABEL [LABEL ...]

On a shared machine the load changes between a benchmark's retraining and
its unlearning runs, so their ratio moves with it. Here each round retrains
once (the experiment's recipe on the retain set, as the runner does) and then
runs every listed method once, on the first experiment and seed of CONFIG,
with the original loaded from (or trained into) STORE's model cache (the
one-time set-up, not timed). Every method call is preceded by the kind's
untimed warm-up pass, as in the runner. Prints each round's seconds and, per
method, the ratio of the medians and the per-round ratios.
"""

from __future__ import annotations

import sys

import numpy as np
import torch

from unlearnkit.experiment.config import load_config
from unlearnkit.experiment.keys import derive_seed
from unlearnkit.experiment.model_cache import ModelCache
from unlearnkit.experiment.units import PlanCache, fit_from_scratch
from unlearnkit.progress import SilentProgress
from unlearnkit.store.sqlite import SQLiteStore


def main(config_path: str, store: str, rounds: int, labels: list[str]) -> None:
    torch.set_num_threads(1)
    plan = PlanCache().build(0, load_config(config_path)[0])
    kind, resolved, prepared = plan.kind, plan.resolved, plan.prepared
    methods = dict(resolved.methods)
    unknown = [label for label in labels if label not in methods]
    if unknown:
        sys.exit(f"{unknown} are not method labels of {plan.name}; labels: {list(methods)}")
    progress = SilentProgress()
    seed = resolved.config.seeds[0]
    original = ModelCache(SQLiteStore(store), progress).train(
        kind, resolved, prepared, plan.rows("original"), derive_seed(seed, "original"), "original"
    )
    seconds: dict[str, list[float]] = {"retrain": [], **{label: [] for label in labels}}
    for round_ in range(rounds):
        _, meta = fit_from_scratch(kind, resolved, prepared, plan.rows("retrain"), derive_seed(seed, "unlearn"), progress, "retrain")
        seconds["retrain"].append(float(meta["seconds"]))
        for label in labels:
            task = kind.task(resolved, prepared, torch.Generator().manual_seed(round_), progress)
            kind.warm_up(original.model, prepared)
            seconds[label].append(methods[label].unlearn(original.model, task).seconds)
        print(f"round {round_}: " + ", ".join(f"{k} {v[-1]:.2f}s" for k, v in seconds.items()), flush=True)
    retrain = float(np.median(seconds["retrain"]))
    for label in labels:
        ratios = np.array(seconds[label]) / np.array(seconds["retrain"])
        median = float(np.median(seconds[label]))
        print(
            f"{label}: median {median:.2f}s / retrain median {retrain:.2f}s = {median / retrain:.4f}; "
            f"per-round ratios {', '.join(f'{r:.4f}' for r in ratios)}"
        )


if __name__ == "__main__":
    if len(sys.argv) < 5:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4:])
