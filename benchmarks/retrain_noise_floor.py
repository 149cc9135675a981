"""Retrain-vs-retrain avg_gap across seeds: the noise floor of an experiment's avg_gap.

Usage: python benchmarks/retrain_noise_floor.py STORE EXPERIMENT
Pairs every two seeds' retrained models and averages |difference| (points)
over forget/retain/test accuracy and MIA-efficacy, the components of avg_gap.
"""

from __future__ import annotations

import itertools
import sys

import numpy as np

from unlearnkit.metrics.functional import avg_gap
from unlearnkit.store import SQLiteStore


def main(store: str, experiment: str) -> None:
    runs = [r for r in SQLiteStore(store).runs() if r.experiment == experiment and r.role == "retrain"]
    if len(runs) < 2:
        sys.exit(f"{experiment}: need at least 2 retrain seeds, found {len(runs)}")
    gaps = [avg_gap(a.metrics, b.metrics) for a, b in itertools.combinations(runs, 2)]
    print(f"{experiment}: retrain-vs-retrain avg_gap over {len(gaps)} seed pairs: mean {np.mean(gaps):.2f}, max {np.max(gaps):.2f} points")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
