"""Quality-time frontier figure of a frontier benchmark, from its store only.

Usage: python benchmarks/frontier_plot.py STORE PNG EXPERIMENT [EXPERIMENT ...]

One point per method entry (label): gap closed against time as a fraction of
retraining's, each the mean over the evaluation cases (every experiment and
seed), with ± one standard deviation as error bars and every single case as a
faint dot. Dashed lines mark the goal (≥ 0.9 of the gap at ≤ 0.05 of the
time) and the dotted line the retrain-vs-retrain ceiling. Numbers are computed
as in frontier_table.py (same functions).
"""

from __future__ import annotations

import sys

import matplotlib

matplotlib.use("Agg")  # files only: no display on the benchmark machines
import matplotlib.pyplot as plt
import numpy as np
from frontier_table import load_runs, noise_floor, per_case


def main(store: str, png: str, experiments: list[str]) -> None:
    runs = load_runs(store, experiments)
    table = per_case(runs)
    _, floor = noise_floor(runs)
    figure, axes = plt.subplots(figsize=(8, 5.5))
    colours = plt.get_cmap("tab20")
    for index, (label, cases) in enumerate(item for item in table.items() if item[0] != "original"):
        gap = np.array([c["gap_closed"] for c in cases])
        fraction = np.array([c["time_fraction"] for c in cases])
        colour = colours(index % 20)
        marker = "o" if label.startswith("heldout_match") else ("*" if label == "retrain" else "s")
        axes.scatter(fraction, gap, s=10, alpha=0.3, color=colour)
        axes.errorbar(
            fraction.mean(),
            gap.mean(),
            xerr=fraction.std(ddof=1),
            yerr=gap.std(ddof=1),
            fmt=marker,
            color=colour,
            capsize=3,
            label=f"{label} ({gap.mean():.2f} at {fraction.mean():.3f})",
        )
    axes.axhline(0.9, color="grey", linestyle="--", linewidth=1)
    axes.axvline(0.05, color="grey", linestyle="--", linewidth=1)
    axes.axhline(1 - floor, color="grey", linestyle=":", linewidth=1, label=f"retrain-vs-retrain ceiling ({1 - floor:.2f})")
    axes.set_xscale("log")
    axes.set_xlabel("time / retraining's time (log; per case, from the store)")
    axes.set_ylabel("gap closed (1 − avg_gap / original's avg_gap)")
    cases = len(next(iter(table.values())))
    axes.set_title(f"Quality–time frontier: {', '.join(experiments)} ({cases} evaluation cases)", fontsize=9)
    axes.legend(fontsize=7, loc="lower right")
    axes.grid(True, which="both", alpha=0.3)
    figure.tight_layout()
    figure.savefig(png, dpi=130)


if __name__ == "__main__":
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2], sys.argv[3:])
