"""Time fraction of unlearning methods against retraining, measured interleaved in one process.

Usage: python benchmarks/frontier_timing.py CONFIG STORE ROUNDS LABEL [LABEL ...]

On a shared machine the load changes between a benchmark's retraining and
its unlearning runs, so their ratio moves with it. Here each round retrains
once (the experiment's recipe on the retain set, as the runner does) and then
runs every listed method once, on the first experiment and seed of CONFIG,
with the original loaded from (or trained into) STORE's model cache. Prints
each round's seconds and the ratio of the medians.
"""

from __future__ import annotations

import sys
import time

import numpy as np
import torch

from unlearnkit.experiment.config import load_config
from unlearnkit.experiment.resolve import ResolvedExperiment, derive_seed
from unlearnkit.experiment.runner import Runner
from unlearnkit.methods.base import UnlearnTask
from unlearnkit.store.sqlite import SQLiteStore
from unlearnkit.training import train_model


def main(config_path: str, store: str, rounds: int, labels: list[str]) -> None:
    torch.set_num_threads(1)
    experiment = load_config(config_path)[0]
    resolved = ResolvedExperiment.build(experiment)
    methods = dict(resolved.methods)
    unknown = [label for label in labels if label not in methods]
    if unknown:
        sys.exit(f"{unknown} are not method labels of {experiment.name}; labels: {list(methods)}")
    runner = Runner(SQLiteStore(store))
    data = runner.load(resolved)
    split = resolved.split_spec.build(data, resolved.selector)
    seed = experiment.seeds[0]
    original, _ = runner.cache.train(
        "original", data, split.train, resolved.model_builder, resolved.train_spec, derive_seed(seed, "original"), runner.progress
    )
    seconds: dict[str, list[float]] = {"retrain": [], **{label: [] for label in labels}}
    retain = torch.as_tensor(split.retain)
    for round_ in range(rounds):
        generator = torch.Generator().manual_seed(derive_seed(seed, "unlearn"))
        model = resolved.model_builder.build(data.meta, generator)
        start = time.perf_counter()
        train_model(model, data.x[retain], data.y[retain], resolved.train_spec, generator)
        seconds["retrain"].append(time.perf_counter() - start)
        for label in labels:
            task = UnlearnTask(data, split, resolved.train_spec, resolved.model_builder, torch.Generator().manual_seed(round_))
            seconds[label].append(methods[label].unlearn(original, task).seconds)
        print(f"round {round_}: " + ", ".join(f"{k} {v[-1]:.2f}s" for k, v in seconds.items()), flush=True)
    retrain = float(np.median(seconds["retrain"]))
    for label in labels:
        ratios = np.array(seconds[label]) / np.array(seconds["retrain"])
        print(
            f"{label}: median {np.median(seconds[label]):.2f}s / retrain median {retrain:.2f}s = {np.median(seconds[label]) / retrain:.4f}; "
            f"per-round ratios {', '.join(f'{r:.4f}' for r in ratios)}"
        )


if __name__ == "__main__":
    if len(sys.argv) < 5:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4:])
