"""Runs recommendation experiments into the same store as image experiments.

data -> split and forget rows (every experiment checked before anything is
trained) -> original and retrained reference (content-addressed cache, once
per seed) -> methods -> metrics -> RunRecords with per-example outputs.

Timing: a method's time is its whole ``unlearn`` call (IFRU: graph rebuild,
selection, gradients, solve, parameter writes). Retraining's time is the
whole early-stopped training: model construction, graph, every epoch that
ran (including those after the returned checkpoint) and the validation
passes early stopping needed. ``retrain_rec`` runs reuse the cached
reference, which is the very model ``RetrainRec().unlearn`` would train
(same seed, same recipe; tested), with the time it took.

Per-example outputs are stored like a two-class classifier's: the logits
``[0, s]`` of every forget, validation and test row (softmax of ``[0, s]``
is sigmoid(s), so the stored cross-entropy equals the row's BCE) and the
0/1 labels as trained, so reports read them without knowing the task.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from unlearnkit import __version__
from unlearnkit.data.recsys.interactions import InteractionData
from unlearnkit.data.splits import Split
from unlearnkit.errors import InvalidParameterError, SplitError
from unlearnkit.experiment.memory import measure_peak_memory
from unlearnkit.experiment.recsys_config import RecommendationExperimentConfig
from unlearnkit.experiment.recsys_resolve import ResolvedRecommendation
from unlearnkit.experiment.resolve import derive_seed, reference_key, stable_hash
from unlearnkit.methods.base import UnlearnResult
from unlearnkit.methods.recsys.basic import RetrainRec
from unlearnkit.methods.recsys.task import RecommendationMethod, RecommendationTask
from unlearnkit.metrics.recsys_metrics import RecEvalContext, RecOutputs
from unlearnkit.models.recsys.embedding import Recommender, RecommenderBuilder
from unlearnkit.models.recsys.sharded import AttentionAggregator, ShardedRecommender
from unlearnkit.progress import Progress, SilentProgress
from unlearnkit.store import RunRecord, SQLiteStore
from unlearnkit.training.recsys import RecTrainSpec, fit_recommender


def _rows_hash(rows: np.ndarray) -> str:
    return stable_hash(np.asarray(rows, dtype=np.int64).tolist())


@dataclass(frozen=True, eq=False)
class TrainedModel:
    model: nn.Module
    seconds: float
    peak_memory_mib: float | None
    meta: dict[str, Any]


class RecModelCache:
    """Content-addressed cache of recommenders trained from scratch, kept in the store.

    Keys hash the data's content (labels as trained), the exact training and
    validation rows (early stopping reads the latter), the builder, the
    recipe, the seed and the package version. Recommenders are stored as
    state dicts; the propagation graph is not a parameter and is rebuilt
    from the training rows when a model is loaded.
    """

    def __init__(self, store: SQLiteStore, progress: Progress) -> None:
        self.store = store
        self.progress = progress

    def single(
        self,
        kind: str,
        data: InteractionData,
        rows: np.ndarray,
        validation: np.ndarray,
        builder: RecommenderBuilder,
        spec: RecTrainSpec,
        seed: int,
    ) -> TrainedModel:
        """The recommender trained on ``rows`` with ``seed`` (as ``fit_fresh`` would), and its cost."""
        key = stable_hash(
            ["recommender", data.fingerprint, _rows_hash(rows), _rows_hash(validation), type(builder).__name__,
             builder.get_params(), spec.get_params(), seed, __version__]
        )
        generator = torch.Generator().manual_seed(seed)
        cached = self.store.load_model(key)
        if cached is not None:
            state, meta = cached
            model = builder.build(data.meta, torch.Generator().manual_seed(seed))
            model.load_state_dict(state)
            model.condition_on(data, rows)
            model.eval()
            return TrainedModel(model, float(meta["seconds"]), meta["peak_memory_mib"], meta)
        with measure_peak_memory() as peak:
            start = time.perf_counter()
            model = builder.build(data.meta, generator)
            log = fit_recommender(
                model, data, rows, spec, generator, validation_rows=validation, progress=self.progress, description=kind
            )
            seconds = time.perf_counter() - start
        meta = {
            "seconds": seconds,
            "peak_memory_mib": peak.mib,
            "epochs_run": log.epochs_run,
            "best_epoch": log.best_epoch,
            "best_validation_auc": log.best_validation_auc,
            "n_train": len(rows),
        }
        self.store.save_model(key, kind, model.state_dict(), meta)
        return TrainedModel(model, seconds, peak.mib, meta)

    def own(self, method: RecommendationMethod, task: RecommendationTask, seed: int) -> TrainedModel:
        """A sharded method's own original (``method.train_original``), trained with ``seed``."""
        data, split = task.data, task.split
        key = stable_hash(
            ["own original", type(method).__name__, method.get_params(), data.fingerprint, _rows_hash(split.train),
             _rows_hash(split.validation), type(task.model_builder).__name__, task.model_builder.get_params(),
             task.train_spec.get_params(), seed, __version__]
        )
        cached = self.store.load_model(key)
        if cached is not None:
            state, meta = cached
            model = self._sharded_skeleton(state, meta, task)
            return TrainedModel(model, float(meta["seconds"]), meta["peak_memory_mib"], meta)
        with measure_peak_memory() as peak:
            start = time.perf_counter()
            model = method.train_original(task)
            seconds = time.perf_counter() - start
        if not isinstance(model, ShardedRecommender):
            raise TypeError(f"{type(method).__name__}.train_original returned {type(model).__name__}; only sharded originals are cached")
        meta = {"seconds": seconds, "peak_memory_mib": peak.mib, "shard_rows": [rows.tolist() for rows in model.shard_rows]}
        self.store.save_model(key, f"{type(method).__name__} original", model.state_dict(), meta)
        model.eval()
        return TrainedModel(model, seconds, peak.mib, meta)

    @staticmethod
    def _sharded_skeleton(state: dict[str, torch.Tensor], meta: dict[str, Any], task: RecommendationTask) -> ShardedRecommender:
        shard_rows = [np.asarray(rows, dtype=np.int64) for rows in meta["shard_rows"]]
        members = []
        for rows in shard_rows:
            member = task.model_builder.build(task.data.meta, torch.Generator().manual_seed(0))
            member.condition_on(task.data, rows)
            members.append(member)
        aggregator = None
        if any(name.startswith("aggregator.") for name in state):
            dim = members[0].user_embedding.shape[1]
            attention_dim = state["aggregator.attention.user.weight"].shape[0]
            aggregator = AttentionAggregator(len(members), dim, attention_dim)
        model = ShardedRecommender(members, shard_rows, aggregator)
        model.load_state_dict(state)
        model.eval()
        return model


@dataclass(frozen=True, eq=False)
class Prepared:
    resolved: ResolvedRecommendation
    data: InteractionData  # labels as trained (flipped rows flipped)
    split: Split


def stored_outputs(outputs: RecOutputs, data: InteractionData, split: Split) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per-row logits as two-class logits [0, s] with the labels as trained (see the module docstring)."""
    stored = {}
    for name, scores in outputs.scores.items():
        logits = np.stack([np.zeros_like(scores), scores], axis=1).astype(np.float32)
        stored[name] = (logits, data.label[getattr(split, name)].astype(np.int64))
    return stored


class RecommendationRunner:
    """Executes recommendation experiments; completed runs are skipped on re-runs."""

    def __init__(self, store: SQLiteStore, *, progress: Progress | None = None, log: Callable[[str], None] | None = None) -> None:
        self.store = store
        self.progress = progress or SilentProgress()
        self.log = log or (lambda message: None)
        self.cache = RecModelCache(store, self.progress)
        self._datasets: dict[str, InteractionData] = {}
        self._prepared: dict[str, Prepared] = {}

    def prepare(self, experiments: list[RecommendationExperimentConfig]) -> None:
        """Load the data and build every split and forget set, so bad requests fail before any training."""
        for config in experiments:
            resolved = ResolvedRecommendation.build(config)
            key = resolved.data_key()
            if key not in self._datasets:
                self._datasets[key] = resolved.dataset.load()
            try:
                data, split = resolved.split_spec.build(self._datasets[key], resolved.selector)
            except (SplitError, InvalidParameterError) as error:
                raise type(error)(f"experiment {config.name!r}, forget {config.forget.name!r}: {error}") from error
            self._prepared[config.name] = Prepared(resolved, data, split)

    def run_experiment(self, position: int, config: RecommendationExperimentConfig, summary: Any) -> None:
        if config.name not in self._prepared:
            self.prepare([config])
        prepared = self._prepared[config.name]
        resolved = prepared.resolved
        pending: dict[int, list[tuple[int, str, RecommendationMethod]]] = {}
        for seed in config.seeds:
            pending[seed] = []
            for index, (label, method) in enumerate(resolved.methods):
                if self.store.has_run(resolved.run_key(label, method, seed)):
                    summary.skipped.append(f"{config.name}/{label}/seed{seed}")
                else:
                    pending[seed].append((index, label, method))
        if not any(pending.values()):
            self.log(f"{config.name}: every run is already in the store")
            return
        self.log(f"{config.name}: {prepared.data.name} ({prepared.data.n_users} users x {prepared.data.n_items} items) split {prepared.split.describe()}")
        for seed in config.seeds:
            if pending[seed]:
                self._run_seed(position, prepared, seed, pending[seed], summary)

    def _task(self, prepared: Prepared, seed: int) -> RecommendationTask:
        resolved = prepared.resolved
        return RecommendationTask(
            prepared.data, prepared.split, resolved.train_spec, resolved.model_builder, torch.Generator().manual_seed(seed), self.progress
        )

    def _run_seed(
        self, position: int, prepared: Prepared, seed: int, pending: list[tuple[int, str, RecommendationMethod]], summary: Any
    ) -> None:
        resolved, data, split = prepared.resolved, prepared.data, prepared.split
        builder, spec = resolved.model_builder, resolved.train_spec
        original_seed, unlearn_seed = derive_seed(seed, "original"), derive_seed(seed, "unlearn")
        original = self.cache.single("original", data, split.train, split.validation, builder, spec, original_seed)
        reference = self.cache.single("reference", data, split.retain, split.validation, builder, spec, unlearn_seed)
        original_outputs = RecOutputs.compute(original.model, data, split)
        reference_outputs = RecOutputs.compute(reference.model, data, split)
        for method_position, label, method in pending:
            result, peak_mib, extra = self._unlearn(method, prepared, original, reference, original_seed, unlearn_seed)
            outputs = RecOutputs.compute(result.model, data, split)
            ctx = RecEvalContext(
                data, split, result.model, outputs, result.seconds, peak_mib,
                reference_outputs, reference.seconds, original_outputs, seed,
            )
            metrics = {name: float(metric.compute(ctx)) for name, metric in resolved.metrics}
            info = {
                name: {
                    "direction": metric.direction,
                    "goals": sorted(metric.goals),
                    "notion": metric.notion,
                    "needs_reference": metric.needs_reference,
                }
                for name, metric in resolved.metrics
            }
            run_config = resolved.run_config(label, method, seed)
            record = RunRecord(
                run_key=resolved.run_key(label, method, seed),
                experiment=resolved.config.name,
                experiment_position=position,
                kind=resolved.config.kind,
                method=type(method).__name__,
                role=type(method).role,
                label=label,
                method_position=method_position,
                seed=seed,
                goal=resolved.config.goal,
                seconds=result.seconds,
                peak_memory_mib=peak_mib,
                metrics=metrics,
                metric_info=info,
                diagnostics={**result.diagnostics, **extra, "peak_memory_mib": peak_mib},
                config=run_config,
                version=__version__,
                # No reference record is stored for recommenders yet; the key follows the classification formula.
                reference_key=reference_key(run_config["setting"], run_config["metrics"], seed, __version__),
            )
            self.store.write_run(record, stored_outputs(outputs, data, split))
            summary.executed.append(f"{resolved.config.name}/{label}/seed{seed}")
            self.log(f"{resolved.config.name}/{label}/seed{seed}: " + ", ".join(f"{k}={v:.4g}" for k, v in metrics.items()))

    def _unlearn(
        self,
        method: RecommendationMethod,
        prepared: Prepared,
        original: TrainedModel,
        reference: TrainedModel,
        original_seed: int,
        unlearn_seed: int,
    ) -> tuple[UnlearnResult, float | None, dict[str, Any]]:
        if isinstance(method, RetrainRec):
            diagnostics = {k: reference.meta[k] for k in ("epochs_run", "best_epoch", "best_validation_auc")}
            return UnlearnResult(reference.model, reference.seconds, {**diagnostics, "cached_training": True}), reference.peak_memory_mib, {}
        extra: dict[str, Any] = {}
        start_model: nn.Module = original.model
        if method.original == "own":
            own = self.cache.own(method, self._task(prepared, original_seed), original_seed)
            start_model = own.model
            extra["own_original_seconds"] = own.seconds
        task = self._task(prepared, unlearn_seed)
        with measure_peak_memory() as peak:
            result = method.unlearn(start_model, task)
        if isinstance(result.model, Recommender) and result.model.layers > 0 and result.model.graph is None:
            raise RuntimeError(f"{type(method).__name__} returned a graph model without a graph")
        return result, peak.mib, extra
