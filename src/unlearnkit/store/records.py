"""What the store keeps about each run and each reference model.

Records are plain frozen dataclasses built with keyword arguments only, so a
new field can never shift the meaning of a positional value.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

# Per-example outputs of one model: split name -> (logits, labels).
Outputs = dict[str, tuple[np.ndarray, np.ndarray]]
# Named arrays of one model beyond its logits (e.g. "exposure/bits"): name -> array.
Arrays = dict[str, np.ndarray]

# A run's role decides the special rows of a report: "retrain" is the
# reference under "untraining" and the denominator of time fractions,
# "original" is the starting point of gap_closed, "method" is everything else.
ROLES = ("retrain", "original", "method")


@dataclass(frozen=True, kw_only=True)
class RunRecord:
    """One (experiment, method, seed) run: its metrics, time, configuration and what it was compared with."""

    run_key: str
    experiment: str
    experiment_position: int
    kind: str  # kind of experiment: "classification", "recommendation", ...
    method: str  # the method's class name
    role: str  # one of ROLES
    label: str
    method_position: int
    seed: int
    goal: str
    seconds: float
    peak_memory_mib: float | None  # None where the runner did not measure it
    metrics: dict[str, float]
    metric_info: dict[str, dict[str, Any]]
    diagnostics: dict[str, Any]
    config: dict[str, Any]
    version: str
    reference_key: str  # key of the ReferenceRecord this run was compared with (it may not be stored)

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise ValueError(f"run {self.run_key}: role must be one of {ROLES}; got {self.role!r}")


@dataclass(frozen=True, kw_only=True)
class ReferenceRecord:
    """The reference model of one (experiment setting, metric list, seed): its metrics, time and config."""

    reference_key: str
    experiment: str
    kind: str
    goal: str
    seed: int
    seconds: float
    metrics: dict[str, float]
    metric_info: dict[str, dict[str, Any]]
    config: dict[str, Any]
    version: str


@dataclass(frozen=True, kw_only=True)
class FailureRecord:
    """A unit of work that failed in the last ``run`` or ``tune`` of an experiment (see schema ``failures``)."""

    key: str
    command: str
    experiment: str
    unit: str
    error: str
    traceback: str
    attempts: int
    blocked_by: str | None = None
