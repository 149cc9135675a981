"""Runs experiments: data -> split -> original & reference (cached) -> methods -> metrics -> store."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from unlearnkit import __version__
from unlearnkit.data.dataset import ClassificationData
from unlearnkit.data.splits import Split
from unlearnkit.experiment.config import ExperimentConfig
from unlearnkit.experiment.recsys_config import RecommendationExperimentConfig
from unlearnkit.experiment.recsys_resolve import ResolvedRecommendation
from unlearnkit.experiment.resolve import ResolvedExperiment, derive_seed, stable_hash
from unlearnkit.methods.base import UnlearningMethod, UnlearnResult, UnlearnTask
from unlearnkit.methods.basic import Retrain
from unlearnkit.metrics.base import EvalContext, ModelOutputs
from unlearnkit.models.base import ModelBuilder
from unlearnkit.progress import Progress, SilentProgress
from unlearnkit.store import ReferenceRecord, RunRecord, SQLiteStore
from unlearnkit.training.loop import TrainSpec, train_model


@dataclass
class RunSummary:
    executed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def save_configuration(store: SQLiteStore, position: int, config: ExperimentConfig | RecommendationExperimentConfig) -> None:
    """Keep the whole (all seeds) configuration and the run keys it asks for.

    The report reads report-time settings (population metrics) from it, and
    shows only these runs: a label re-run with another recipe replaces its
    earlier rows instead of being averaged with them.
    """
    resolved = ResolvedRecommendation.build(config) if config.kind == "recommendation" else ResolvedExperiment.build(config)
    keys = [resolved.run_key(label, method, seed) for seed in config.seeds for label, method in resolved.methods]
    store.save_experiment(config.name, position, config.model_dump(mode="json"), keys)


def _arrays(outputs: ModelOutputs) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    return {name: (outputs.logits[name].numpy(), outputs.labels[name].numpy()) for name in outputs.logits}


class ModelCache:
    """Content-addressed cache of models trained from scratch, kept in the store.

    The key hashes the data's content, the exact training indices, the model
    builder and its parameters, the training recipe, the seed and the package
    version, so a different setting can never hit a stale entry.
    """

    def __init__(self, store: SQLiteStore) -> None:
        self.store = store

    @staticmethod
    def key(data: ClassificationData, indices: np.ndarray, builder: ModelBuilder, spec: TrainSpec, seed: int) -> str:
        return stable_hash(
            [
                data.fingerprint,
                stable_hash(np.asarray(indices, dtype=np.int64).tolist()),
                type(builder).__name__,
                builder.get_params(),
                spec.get_params(),
                seed,
                __version__,
            ]
        )

    def train(
        self,
        kind: str,
        data: ClassificationData,
        indices: np.ndarray,
        builder: ModelBuilder,
        spec: TrainSpec,
        seed: int,
        progress: Progress,
    ) -> tuple[nn.Module, float]:
        """The model trained from scratch on ``indices`` with ``seed``, and the seconds training took."""
        key = self.key(data, indices, builder, spec, seed)
        generator = torch.Generator().manual_seed(seed)
        model = builder.build(data.meta, generator)
        cached = self.store.load_model(key)
        if cached is not None:
            state, meta = cached
            model.load_state_dict(state)
            model.eval()
            return model, float(meta["seconds"])
        start = time.perf_counter()
        index = torch.as_tensor(indices)
        log = train_model(model, data.x[index], data.y[index], spec, generator, progress=progress, description=kind)
        seconds = time.perf_counter() - start
        model.eval()
        meta = {"seconds": seconds, "train_accuracy": log.train_accuracy, "train_loss": log.train_loss, "n_train": int(len(indices))}
        self.store.save_model(key, kind, model.state_dict(), meta)
        return model, seconds


class Runner:
    """Executes experiments into a store; completed runs are skipped on re-runs."""

    def __init__(self, store: SQLiteStore, *, progress: Progress | None = None, log: Callable[[str], None] | None = None) -> None:
        self.store = store
        self.cache = ModelCache(store)
        self.progress = progress or SilentProgress()
        self.log = log or (lambda message: None)
        self._datasets: dict[str, ClassificationData] = {}

    def load(self, resolved: ResolvedExperiment) -> ClassificationData:
        key = stable_hash([resolved.config.dataset.name, resolved.dataset.get_params()])
        if key not in self._datasets:
            self._datasets[key] = resolved.dataset.load()
        return self._datasets[key]

    def run(self, experiments: list[ExperimentConfig]) -> RunSummary:
        summary = RunSummary()
        # Recommendation experiments (kind = "recommendation") run in recsys_runner.py; their
        # data and forget sets are all checked here, before anything is trained.
        from unlearnkit.experiment.recsys_runner import RecommendationRunner

        recommendation = RecommendationRunner(self.store, progress=self.progress, log=self.log)
        recommendation.prepare([c for c in experiments if c.kind == "recommendation"])
        for position, config in enumerate(experiments):
            save_configuration(self.store, position, config)
            if config.kind == "recommendation":
                recommendation.run_experiment(position, config, summary)
            else:
                self.run_experiment(position, ResolvedExperiment.build(config), summary)
        return summary

    def run_experiment(self, position: int, resolved: ResolvedExperiment, summary: RunSummary) -> None:
        config = resolved.config
        pending: dict[int, list[tuple[int, str, UnlearningMethod]]] = {}
        missing_reference: dict[int, bool] = {}
        for seed in config.seeds:
            pending[seed] = []
            missing_reference[seed] = not self.store.has_reference(resolved.reference_key(seed))
            for index, (label, method) in enumerate(resolved.methods):
                if self.store.has_run(resolved.run_key(label, method, seed)):
                    summary.skipped.append(f"{config.name}/{label}/seed{seed}")
                else:
                    pending[seed].append((index, label, method))
        if not any(pending.values()) and not any(missing_reference.values()):
            self.log(f"{config.name}: every run is already in the store")
            return
        data = self.load(resolved)
        split = resolved.split_spec.build(data, resolved.selector)
        self.log(f"{config.name}: {data.name} split {split.describe()}")
        for seed in config.seeds:
            # A store written before references were kept gets them from the model cache (no retraining).
            if pending[seed] or missing_reference[seed]:
                self._run_seed(position, resolved, data, split, seed, pending[seed], summary)

    def reference_split(self, resolved: ResolvedExperiment, split: Split) -> Split:
        """Untraining: retrain without the forget set. Unlearning: without the whole forget distribution."""
        if resolved.config.goal == "unlearning":
            return split.with_forget(split.forget_distribution)
        return split

    def _run_seed(
        self,
        position: int,
        resolved: ResolvedExperiment,
        data: ClassificationData,
        split: Split,
        seed: int,
        pending: list[tuple[int, str, UnlearningMethod]],
        summary: RunSummary,
    ) -> None:
        config = resolved.config
        builder, spec = resolved.model_builder, resolved.train_spec
        original, _ = self.cache.train("original", data, split.train, builder, spec, derive_seed(seed, "original"), self.progress)
        unlearn_seed = derive_seed(seed, "unlearn")
        reference_split = self.reference_split(resolved, split)
        reference, reference_seconds = self.cache.train(
            "reference", data, reference_split.retain, builder, spec, unlearn_seed, self.progress
        )
        reference_outputs = ModelOutputs.compute(reference, data, split)
        info = {
            name: {
                "direction": metric.direction,
                "goals": sorted(metric.goals),
                "notion": metric.notion,
                "needs_reference": metric.needs_reference,
            }
            for name, metric in resolved.metrics
        }
        reference_key = resolved.reference_key(seed)
        if not self.store.has_reference(reference_key):
            # The reference scored against itself: the target values the report compares methods with.
            ctx = EvalContext(reference_outputs, reference_seconds, reference_outputs, reference_seconds, seed, reference, data, split)
            record = ReferenceRecord(
                reference_key=reference_key,
                experiment=config.name,
                kind=config.kind,
                goal=config.goal,
                seed=seed,
                seconds=reference_seconds,
                metrics={name: metric.compute(ctx) for name, metric in resolved.metrics},
                metric_info=info,
                config=resolved.reference_config(seed),
                version=__version__,
            )
            self.store.write_reference(record, _arrays(reference_outputs))
        for method_position, label, method in pending:
            task = UnlearnTask(data, split, spec, builder, torch.Generator().manual_seed(unlearn_seed), self.progress)
            result = self._unlearn(method, original, task, data, split, builder, spec, unlearn_seed)
            outputs = ModelOutputs.compute(result.model, data, split)
            ctx = EvalContext(outputs, result.seconds, reference_outputs, reference_seconds, seed, result.model, data, split)
            metrics = {name: metric.compute(ctx) for name, metric in resolved.metrics}
            run_key = resolved.run_key(label, method, seed)
            record = RunRecord(
                run_key=run_key,
                experiment=config.name,
                experiment_position=position,
                kind=config.kind,
                method=type(method).__name__,
                role=type(method).role,
                label=label,
                method_position=method_position,
                seed=seed,
                goal=config.goal,
                seconds=result.seconds,
                peak_memory_mib=None,  # not measured for classification runs yet
                metrics=metrics,
                metric_info=info,
                diagnostics=result.diagnostics,
                config=resolved.run_config(label, method, seed),
                version=__version__,
                reference_key=reference_key,
            )
            self.store.write_run(record, _arrays(outputs))
            summary.executed.append(f"{config.name}/{label}/seed{seed}")
            self.log(f"{config.name}/{label}/seed{seed}: " + ", ".join(f"{k}={v:.4g}" for k, v in metrics.items()))

    def _unlearn(
        self,
        method: UnlearningMethod,
        original: nn.Module,
        task: UnlearnTask,
        data: ClassificationData,
        split: Split,
        builder: ModelBuilder,
        spec: TrainSpec,
        unlearn_seed: int,
    ) -> UnlearnResult:
        if isinstance(method, Retrain):
            # Retraining is deterministic in its seed; the cache returns the very
            # model Retrain().unlearn would train (tested), with the time it took.
            model, seconds = self.cache.train("retrain", data, split.retain, builder, spec, unlearn_seed, self.progress)
            return UnlearnResult(model, seconds, {"cached_training": True})
        return method.unlearn(original, task)
