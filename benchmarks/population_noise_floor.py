"""Noise floor of the population metrics at N = 4 per side, from an experiment's stored outputs (8 seeds).

The references of seeds 0-3 against the references of seeds 4-7 (two samples of
one population: what a perfect untraining method would score at this N), next to
each method's seeds 0-3 against the same references 4-7. Reads the store only.

Usage: python benchmarks/population_noise_floor.py STORE.sqlite [EXPERIMENT]   (default: population_mnist5k)
"""

from __future__ import annotations

import sys

import numpy as np

from unlearnkit.metrics import (
    forgetting_quality,
    klom,
    logit_scaled_confidence,
    margins,
    u_mia,
)
from unlearnkit.store import SQLiteStore


def main(path: str, experiment: str) -> None:
    store = SQLiteStore(path)
    runs = sorted((r for r in store.current_runs() if r.experiment == experiment), key=lambda r: r.seed)
    reference_keys = {r.seed: r.reference_key for r in runs}
    seeds = sorted(reference_keys)
    references = [store.reference_outputs(reference_keys[seed])["forget"] for seed in seeds]
    labels = references[0][1]

    def stack(outputs: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
        return np.stack([logits for logits, _ in outputs])

    def row(name: str, unlearned: np.ndarray, reference: np.ndarray) -> None:
        cu, cr = logit_scaled_confidence(unlearned, labels), logit_scaled_confidence(reference, labels)
        per_example = klom(margins(unlearned, labels), margins(reference, labels))
        print(
            f"| {name} | {forgetting_quality(cu, cr):.3f} | {np.percentile(per_example, 95):.2f} "
            f"| {np.percentile(per_example, 50):.2f} | {u_mia(cu, cr).mean:.3f} |"
        )

    print("| seeds 0-3 vs references of seeds 4-7 | F | KLoM p95 | KLoM p50 | U-MIA |")
    print("|---|---|---|---|---|")
    row("references (noise floor)", stack(references[:4]), stack(references[4:]))
    labels_in_order = [label for _, label in sorted({(r.method_position, r.label) for r in runs})]
    for label in labels_in_order:
        method_runs = {r.seed: r for r in runs if r.label == label}
        if method_runs[seeds[0]].role != "retrain":  # under untraining its models are the references
            outputs = [store.outputs(method_runs[seed].run_key)["forget"] for seed in seeds[:4]]
            row(label, stack(outputs), stack(references[4:]))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else "population_mnist5k")
