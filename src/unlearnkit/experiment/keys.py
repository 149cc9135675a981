"""The keys that identify runs, references and seeds: hashes of the resolved configuration and the version.

Everything hashed holds only JSON types, so a key computed from a stored
configuration after a JSON round trip equals the one computed at run time.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import numpy as np

from unlearnkit.kinds.base import ResolvedExperiment
from unlearnkit.methods.base import UnlearningMethod
from unlearnkit.version import __version__


def stable_hash(payload: Any) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:20]


def rows_hash(rows: np.ndarray) -> str:
    return stable_hash(np.asarray(rows, dtype=np.int64).tolist())


def derive_seed(seed: int, purpose: str) -> int:
    """Independent seeds for independent purposes (original training, unlearning) from one run seed."""
    return int(stable_hash([seed, purpose]), 16) % (2**31 - 1)


def reference_config(resolved: ResolvedExperiment, seed: int) -> dict[str, Any]:
    return {"experiment": resolved.name, "setting": resolved.setting(), "metrics": resolved.metric_params(), "seed": seed}


def reference_key(resolved: ResolvedExperiment, seed: int) -> str:
    """Key of the reference of one (setting, metric list, seed): shared by experiments with the same setting."""
    return stable_hash(["reference", resolved.setting(), resolved.metric_params(), seed, __version__])


def run_config(resolved: ResolvedExperiment, label: str, method: UnlearningMethod, seed: int) -> dict[str, Any]:
    """What determines one run; a method that unlearns an expanded forget set adds the expansion (other keys are unchanged)."""
    config = {
        "experiment": resolved.name,
        "setting": resolved.setting(),
        "method": [type(method).__name__, label, method.get_params()],
        "metrics": resolved.metric_params(),
        "seed": seed,
    }
    expansion = resolved.expansion_params(label)
    if expansion is not None:
        config["forget_expansion"] = expansion
    return config


def run_key(resolved: ResolvedExperiment, label: str, method: UnlearningMethod, seed: int) -> str:
    return stable_hash([run_config(resolved, label, method, seed), __version__])
