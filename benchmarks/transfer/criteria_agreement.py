"""How well the oracle-free score ranks the same candidates as the gap to a retrained model, on the tuning case.

Usage: python benchmarks/transfer/criteria_agreement.py ORACLE.log ORACLE_FREE.log

Reads the logs of `unlearnkit tune` and `unlearnkit tune --oracle-free` on the
same config, budget and tuning seed (so both scored the same candidates) and
prints, per method, Spearman's rank correlation between the two scores over
the candidates both could score, and whether the oracle-free choice is the
oracle's choice, else how far its selection gap is from the best one.
"""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

import numpy as np
from scipy.stats import spearmanr

TRIAL = re.compile(r"(\w+) (\{[^{}]*\}): (?:(selection gap|oracle-free score) ([-\d.e+]+|inf)|unusable)")


def trials(log: str) -> dict[tuple[str, str], float]:
    """(label, parameters as text) -> score (inf for an unusable setting)."""
    text = " ".join(Path(log).read_text(encoding="utf-8").split())
    found = {}
    for match in TRIAL.finditer(text):
        label, params, _, value = match.groups()
        key = (label, repr(sorted(ast.literal_eval(params).items())))
        found[key] = float("inf") if value is None else float(value)
    return found


def main(oracle_log: str, oracle_free_log: str) -> None:
    oracle, free = trials(oracle_log), trials(oracle_free_log)
    print("| method | candidates | Spearman ρ (both finite) | oracle-free choice's selection gap | best selection gap |")
    print("|---|---|---|---|---|")
    rhos = []
    for label in dict.fromkeys(label for label, _ in oracle):
        keys = [k for k in oracle if k[0] == label and k in free]
        pairs = np.array([(oracle[k], free[k]) for k in keys if np.isfinite(oracle[k]) and np.isfinite(free[k])])
        rho = float(spearmanr(pairs[:, 0], pairs[:, 1]).statistic) if len(pairs) > 2 else float("nan")
        rhos.append(rho)
        finite_free = [k for k in keys if np.isfinite(free[k])]
        chosen = min(finite_free, key=lambda k: free[k]) if finite_free else None
        best = min(oracle[k] for k in keys)
        picked = "none selectable" if chosen is None else f"{oracle[chosen]:.2f}"
        print(f"| {label} | {len(keys)} | {rho:.2f} | {picked} | {best:.2f} |")
    print(f"\nmean ρ over methods: {np.nanmean(rhos):.2f}")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
