"""Content-addressed cache of models trained from scratch (originals, references), kept in the store.

This is the in-process way to get one cached model (tests, scripts); sweeps
build the same models as units of work (:mod:`.sweep`) with the same keys.
A key (:func:`~.units.training_key`) hashes everything that determines the
model, so a different setting can never hit a stale entry. Every entry
records the wall time and peak memory its training cost, so a cached
retrain reports what retraining took.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from torch import nn

from unlearnkit.experiment.units import fit_from_scratch, training_key
from unlearnkit.kinds.base import ExperimentKind, Prepared, ResolvedExperiment
from unlearnkit.progress import Progress
from unlearnkit.store import SQLiteStore


@dataclass(frozen=True, eq=False)
class TrainedModel:
    model: nn.Module
    seconds: float
    peak_memory_mib: float | None
    meta: dict[str, Any]


class ModelCache:
    def __init__(self, store: SQLiteStore, progress: Progress) -> None:
        self.store = store
        self.progress = progress

    key = staticmethod(training_key)

    def train(
        self, kind: ExperimentKind[Any, Any], resolved: ResolvedExperiment, prepared: Prepared[Any], rows: np.ndarray,
        seed: int, role: str,
    ) -> TrainedModel:
        """The model trained from scratch on ``rows`` with ``seed`` (from the cache when it was trained before)."""
        key = training_key(kind, resolved, prepared, rows, seed)
        cached = self.store.load_model(key)
        if cached is not None:
            state, meta = cached
            return TrainedModel(kind.restore(resolved, prepared, rows, state), float(meta["seconds"]), meta["peak_memory_mib"], meta)
        model, meta = fit_from_scratch(kind, resolved, prepared, rows, seed, self.progress, role)
        self.store.save_model(key, role, model.state_dict(), meta)
        return TrainedModel(model, meta["seconds"], meta["peak_memory_mib"], meta)
