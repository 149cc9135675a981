"""Tables of a transfer benchmark's store: defaults vs oracle-tuned vs oracle-free recipes, tuned case vs unseen cases.

Usage: python benchmarks/transfer/summarize.py STORE BENCH [--compact]

Per method and recipe: gap closed (1 - avg_gap / the original's avg_gap of the
same experiment and seed: the share of the distance to retraining removed)
on the tuned case (mean ± std over its seeds) and on the unseen cases (mean ±
std, the worst case and which it was, how many cases closed less than half
the gap), the test accuracy on the unseen cases (mean and lowest), |mia_loss - retrain's| on the unseen cases (the MUFAC loss attack,
forget vs *evaluation* held-out samples, which no selection read: how well
the forget set hides among unseen data, a property avg_gap does not
measure), the time as a fraction of retraining's, and the parameters that
differ from the method's defaults. The noise floor is the
retrain-vs-retrain avg_gap between the two seeds of each unseen forget set,
as a share of the original's gap: no recipe can be told from retraining
below it.

``--compact`` prints one row per method instead (the BENCHMARKS.md summary):
the tuned case under the oracle recipe and the unseen cases under each of the
three selections, as mean ± std and worst case.
"""

from __future__ import annotations

import itertools
import sys
from collections import defaultdict

import numpy as np

from unlearnkit.methods.registry import METHODS
from unlearnkit.metrics.functional import avg_gap
from unlearnkit.store import StoreReader
from unlearnkit.store.records import RunRecord

SELECTIONS = ("default", "oracle", "oraclefree")


def _split_label(label: str) -> tuple[str, list[str]]:
    method, _, which = label.rpartition("_")
    return method, which.split("+")


Rows = dict[tuple[str, str], dict[str, list[tuple[str, float, float, float, float]]]]


def collect(store: str, bench: str) -> tuple[Rows, dict[tuple[str, str], dict[str, object]], list[float]]:
    """Per (method, selection) and case kind, one tuple per run; the non-default parameters; the noise-floor pairs."""
    runs = [
        r for r in StoreReader(store).current_runs() if r.experiment.startswith(f"{bench}_") and not r.experiment.endswith("_tuning")
    ]
    by_case: dict[tuple[str, int], dict[str, RunRecord]] = defaultdict(dict)
    for run in runs:
        by_case[(run.experiment, run.seed)][run.label] = run
    # (method, selection) -> case kind -> (case, gap closed, time fraction, |mia_loss - retrain's|, test_acc) per run
    rows: Rows = defaultdict(lambda: {"tuned": [], "unseen": []})
    params: dict[tuple[str, str], dict[str, object]] = {}
    floors = []
    for (experiment, seed), labelled in sorted(by_case.items()):
        original, retrain = labelled.get("original"), labelled.get("retrain")
        if original is None or retrain is None:
            continue
        case = "tuned" if experiment.endswith("_tuned") else "unseen"
        for label, run in labelled.items():
            if run.role != "method":
                continue
            method, selections = _split_label(label)
            closed = 1.0 - run.metrics["avg_gap"] / original.metrics["avg_gap"]
            for which in selections:
                where = f"{experiment.removeprefix(bench + '_')}/s{seed}"
                mia_gap = abs(run.metrics["mia_loss"] - retrain.metrics["mia_loss"])
                rows[(method, which)][case].append((where, closed, run.seconds / retrain.seconds, mia_gap, run.metrics["test_acc"]))
                params[(method, which)] = _non_default(run.config["method"][0], run.config["method"][2])
    by_experiment: dict[str, list[tuple[RunRecord, RunRecord]]] = defaultdict(list)
    for (experiment, _), labelled in by_case.items():
        if "retrain" in labelled and "original" in labelled and not experiment.endswith("_tuned"):
            by_experiment[experiment].append((labelled["retrain"], labelled["original"]))
    for pairs in by_experiment.values():
        for (a, oa), (b, ob) in itertools.combinations(pairs, 2):
            floors.append(avg_gap(a.metrics, b.metrics) / np.mean([oa.metrics["avg_gap"], ob.metrics["avg_gap"]]))
    return rows, params, floors


def _floor_line(floors: list[float]) -> list[str]:
    if not floors:
        return []
    return [
        "",
        f"Noise floor (retrain vs retrain, unseen forget sets): {np.mean(floors):.3f} ± {np.std(floors):.3f} of the "
        f"original's gap (max {np.max(floors):.3f}, {len(floors)} pairs); gap closed above 1 - that cannot be resolved.",
    ]


def summarize(store: str, bench: str) -> str:
    rows, params, floors = collect(store, bench)
    lines = [
        "| method | recipe | tuned case (n) | unseen: mean ± std (n) | unseen: worst (case) | unseen < 0.5 "
        "| unseen: test_acc (min) | unseen: mia_loss Δ | time / retrain | parameters (non-default) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for method in dict.fromkeys(m for m, _ in rows):
        for which in SELECTIONS:
            entry = rows.get((method, which))
            if entry is None:
                continue
            tuned = np.array([row[1] for row in entry["tuned"]])
            unseen = entry["unseen"]
            closed = np.array([row[1] for row in unseen])
            mia_gaps = np.array([row[3] for row in unseen])
            test = np.array([row[4] for row in unseen])
            worst = min(unseen, key=lambda t: t[1]) if unseen else ("-", np.nan, np.nan, np.nan, np.nan)
            accuracy = "-" if test.size == 0 else f"{test.mean():.3f} ({test.min():.3f})"
            times = np.array([row[2] for row in entry["tuned"] + unseen])
            lines.append(
                f"| {method} | {which} | {_mean_std(tuned)} ({tuned.size}) | {_mean_std(closed)} ({closed.size}) | "
                f"{worst[1]:.3f} ({worst[0]}) | {int((closed < 0.5).sum())} | {accuracy} | {_mean_std(mia_gaps)} | "
                f"{np.mean(times):.3f} | {params[(method, which)] or 'defaults'} |"
            )
    return "\n".join(lines + _floor_line(floors))


def compact(store: str, bench: str) -> str:
    rows, _, floors = collect(store, bench)
    n_unseen = max((len(entry["unseen"]) for entry in rows.values()), default=0)
    lines = [
        f"| method | tuned case, oracle recipe | unseen ({n_unseen}): defaults | unseen: oracle-tuned | unseen: oracle-free "
        "| time / retrain (defaults, oracle, oracle-free) |",
        "|---|---|---|---|---|---|",
    ]
    for method in dict.fromkeys(m for m, _ in rows):
        cells, times = [], []
        for which in SELECTIONS:
            entry = rows.get((method, which), {"tuned": [], "unseen": []})
            closed = np.array([row[1] for row in entry["unseen"]])
            cells.append("-" if closed.size == 0 else f"{closed.mean():.3f} ± {closed.std():.3f} (worst {closed.min():.3f})")
            times.append(f"{np.mean([row[2] for row in entry['tuned'] + entry['unseen']]):.3f}")
        tuned = np.array([row[1] for row in rows.get((method, "oracle"), {"tuned": []})["tuned"]])
        lines.append(f"| {method} | {_mean_std(tuned)} | {' | '.join(cells)} | {', '.join(times)} |")
    return "\n".join(lines + _floor_line(floors))


def _non_default(method_class: str, params: dict[str, object]) -> dict[str, object]:
    (method,) = (cls for cls in METHODS.values() if cls.__name__ == method_class)
    defaults = method().get_params()
    return {k: v for k, v in params.items() if defaults.get(k) != v}


def _mean_std(values: np.ndarray) -> str:
    return "-" if values.size == 0 else f"{values.mean():.3f} ± {values.std():.3f}"


if __name__ == "__main__":
    if len(sys.argv) not in (3, 4) or sys.argv[3:] not in ([], ["--compact"]):
        sys.exit(__doc__)
    print((compact if sys.argv[3:] else summarize)(sys.argv[1], sys.argv[2]))
