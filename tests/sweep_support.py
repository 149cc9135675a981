"""A tiny sweep and what must be equal between two stores of it: every number but the measured times."""

from __future__ import annotations

import hashlib
import os
import sys
from typing import Any

from unlearnkit.cli.main import main
from unlearnkit.store import StoreReader

# Two seeds, three methods (retraining, two unlearning methods): 4 trained models, 2 references, 6 runs.
TINY = """
[[experiment]]
name = "tiny"
goal = "untraining"
seeds = [0, 1]
dataset = { name = "synthetic", n_classes = 3, groups_per_class = 3, samples_per_group = 8 }
split = { test_per_group = 2, validation_fraction = 0.1 }
forget = { name = "groups", groups = [4] }
model = { name = "mlp", hidden = 32, depth = 1 }
train = { epochs = 15, batch_size = 16, lr = 0.05 }
metrics = ["retain_acc", "forget_acc", "test_acc", "heldout_forget_acc", "avg_gap", "wall_time", "speedup"]

[[experiment.methods]]
name = "retrain"

[[experiment.methods]]
name = "finetune"
epochs = 2

[[experiment.methods]]
name = "random_label"
label = "random_label_fast"
epochs = 1
"""


def _digest(arrays: dict[str, Any]) -> str:
    digest = hashlib.sha256()
    for split in sorted(arrays):
        for array in arrays[split]:
            digest.update(split.encode())
            digest.update(array.tobytes())
    return digest.hexdigest()


def _untimed(metrics: dict[str, float], info: dict[str, dict[str, Any]]) -> dict[str, float]:
    """Every metric but the measured costs (wall time, speed-up, memory: notion "efficiency")."""
    return {name: value for name, value in metrics.items() if info.get(name, {}).get("notion") != "efficiency"}


def numbers(path: str) -> dict[str, Any]:
    """Everything a sweep computed, exactly (metrics, per-example outputs, model parameters), without measured times."""
    store = StoreReader(path)
    runs = {
        run.run_key: (run.label, run.seed, _untimed(run.metrics, run.metric_info), _digest(store.outputs(run.run_key)))
        for run in store.runs()
    }
    references = {
        key: (ref.seed, _untimed(ref.metrics, ref.metric_info), _digest(store.reference_outputs(key)))
        for key, ref in store.references().items()
    }
    models = {}
    for key in store.model_keys():
        loaded = store.load_model(key)
        assert loaded is not None
        state, _ = loaded
        digest = hashlib.sha256()
        for name in sorted(state):
            digest.update(name.encode())
            digest.update(state[name].numpy().tobytes())
        models[key] = digest.hexdigest()
    return {"runs": runs, "references": references, "models": models}


def run_cli(argv: list[str], environment: dict[str, str]) -> None:
    """A child process's body: the command line with extra environment variables (exits with its code)."""
    os.environ.update(environment)
    sys.exit(main(argv))
