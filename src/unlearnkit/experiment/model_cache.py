"""Content-addressed cache of models trained from scratch (originals, references, sharded originals), kept in the store.

A key hashes the kind, the data's content, the exact training rows, the
validation rows (early stopping may read them), the model builder and its
parameters, the training recipe, the seed and the package version, so a
different setting can never hit a stale entry. Every entry records the wall
time and peak memory its training cost, so a cached retrain reports what
retraining took.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from unlearnkit import __version__
from unlearnkit.experiment.keys import rows_hash, stable_hash
from unlearnkit.experiment.memory import measure_peak_memory
from unlearnkit.kinds.base import ExperimentKind, Prepared, ResolvedExperiment
from unlearnkit.methods.base import UnlearningMethod
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

    @staticmethod
    def key(kind: ExperimentKind[Any, Any], resolved: ResolvedExperiment, prepared: Prepared[Any], rows: np.ndarray, seed: int) -> str:
        builder, spec = resolved.model_builder, resolved.train_spec
        return stable_hash(
            [kind.name, prepared.fingerprint, rows_hash(rows), rows_hash(prepared.split.validation),
             type(builder).__name__, builder.get_params(), spec.get_params(), seed, __version__]
        )

    def train(
        self, kind: ExperimentKind[Any, Any], resolved: ResolvedExperiment, prepared: Prepared[Any], rows: np.ndarray,
        seed: int, role: str,
    ) -> TrainedModel:
        """The model trained from scratch on ``rows`` with ``seed`` (from the cache when it was trained before)."""
        key = self.key(kind, resolved, prepared, rows, seed)
        cached = self.store.load_model(key)
        if cached is not None:
            state, meta = cached
            return TrainedModel(kind.restore(resolved, prepared, rows, state), float(meta["seconds"]), meta["peak_memory_mib"], meta)
        with measure_peak_memory() as peak:
            start = time.perf_counter()
            model, log = kind.fit(resolved, prepared, rows, torch.Generator().manual_seed(seed), self.progress, role)
            seconds = time.perf_counter() - start
        meta = {**log, "seconds": seconds, "peak_memory_mib": peak.mib}
        self.store.save_model(key, role, model.state_dict(), meta)
        return TrainedModel(model, seconds, peak.mib, meta)

    def own_original(
        self, method: UnlearningMethod, task: Any, resolved: ResolvedExperiment, prepared: Prepared[Any], seed: int
    ) -> TrainedModel:
        """A method's own original (``method.original == "own"``), trained with ``task`` (seeded with ``seed``)."""
        builder, spec = resolved.model_builder, resolved.train_spec
        key = stable_hash(
            ["own original", type(method).__name__, method.get_params(), prepared.fingerprint, rows_hash(prepared.split.train),
             rows_hash(prepared.split.validation), type(builder).__name__, builder.get_params(), spec.get_params(), seed, __version__]
        )
        cached = self.store.load_model(key)
        if cached is not None:
            state, meta = cached
            return TrainedModel(method.restore_original(task, state, meta), float(meta["seconds"]), meta["peak_memory_mib"], meta)
        with measure_peak_memory() as peak:
            start = time.perf_counter()
            model = method.train_original(task)
            seconds = time.perf_counter() - start
        model.eval()
        state, extra = method.original_state(model)
        meta = {**extra, "seconds": seconds, "peak_memory_mib": peak.mib}
        self.store.save_model(key, f"{type(method).__name__} original", state, meta)
        return TrainedModel(model, seconds, peak.mib, meta)
