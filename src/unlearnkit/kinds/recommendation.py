"""Recommendation (``kind = "recommendation"``): MF / LightGCN on (user, item, label) interactions.

Data are :class:`~unlearnkit.data.recsys.InteractionData`; the split keeps
warm validation/test rows and the forget selector picks training rows (and
may flip their labels: the poisoned setting, where the original trains on
the flipped labels). Originals and references share one early-stopped
:class:`~unlearnkit.training.recsys.RecTrainSpec`. The goal is "untraining"
only: a deletion names interactions, not a distribution.

Per-example outputs are stored like a two-class classifier's: the logits
``[0, s]`` of every forget, validation and test row (softmax of ``[0, s]``
is sigmoid(s), so the stored cross-entropy equals the row's BCE) with the
0/1 labels as trained, so reports and population metrics (per-interaction
scores) read them without knowing the kind.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

from unlearnkit.data.recsys.interactions import InteractionData
from unlearnkit.data.recsys.splitting import InteractionSplitSpec
from unlearnkit.data.registry import INTERACTION_DATASETS, INTERACTION_SELECTORS, INTERACTION_SPLITS
from unlearnkit.errors import InvalidParameterError, SplitError
from unlearnkit.kinds.base import Evaluated, ExperimentKind, Prepared, ResolvedExperiment, StoredOutputs
from unlearnkit.kinds.schema import ExperimentFields
from unlearnkit.methods.recsys.task import RecommendationTask
from unlearnkit.metrics import recsys as fn
from unlearnkit.metrics.recsys_metrics import SCORED_SPLITS, RecEvalContext, RecOutputs
from unlearnkit.models.recsys import Recommender
from unlearnkit.models.registry import RECOMMENDERS
from unlearnkit.params import Configurable
from unlearnkit.progress import Progress
from unlearnkit.registry import Registry
from unlearnkit.training.recsys import RecTrainSpec, fit_recommender


class RecommendationExperimentConfig(ExperimentFields):
    kind: Literal["recommendation"]
    # The reference is retraining without the forget rows: "untraining" in the toolkit's terms.
    goal: Literal["untraining"] = "untraining"


def mean_probability(scores: np.ndarray) -> float:
    return float(torch.sigmoid(torch.as_tensor(scores, dtype=torch.float64)).mean())


class RecommendationKind(ExperimentKind[InteractionData, RecOutputs]):
    name = "recommendation"
    description = "recommenders (MF, LightGCN) on interactions; forget interactions or whole users"
    config_model = RecommendationExperimentConfig
    goals = ("untraining",)

    @property
    def datasets(self) -> Registry[Any]:
        return INTERACTION_DATASETS

    @property
    def selectors(self) -> Registry[Any]:
        return INTERACTION_SELECTORS

    @property
    def models(self) -> Registry[Any]:
        return RECOMMENDERS

    @property
    def splits(self) -> Registry[Any]:
        return INTERACTION_SPLITS

    @property
    def split_spec(self) -> type[Configurable]:
        return InteractionSplitSpec

    @property
    def train_spec(self) -> type[Configurable]:
        return RecTrainSpec

    def toy_config(self) -> dict[str, Any]:
        return {
            "kind": self.name,
            "name": "toy_recommendation",
            "seeds": [0],
            "dataset": {"name": "synthetic_interactions", "n_users": 40, "n_items": 30, "n_rows": 600, "signal": 8.0},
            "forget": {"name": "flip_labels", "fraction": 0.05},
            "model": {"name": "lightgcn", "dim": 4, "layers": 1},
            "train": {"epochs": 20, "batch_size": 128, "lr": 0.05, "l2": 0.001, "patience": 3},
            "methods": [{"name": "retrain_rec"}, {"name": "original_rec"}],
            "metrics": ["test_auc", "auc_recovery"],
        }

    def stored_splits(self, config: ExperimentFields) -> tuple[str, ...]:
        return SCORED_SPLITS

    def prepare(self, resolved: ResolvedExperiment, data: InteractionData) -> Prepared[InteractionData]:
        try:
            prepared, split = resolved.split_spec.build(data, resolved.selector)
        except (SplitError, InvalidParameterError) as error:
            raise type(error)(f"experiment {resolved.name!r}, forget {resolved.config.forget.name!r}: {error}") from error
        return Prepared(prepared, split, prepared.fingerprint)

    def fit(
        self, resolved: ResolvedExperiment, prepared: Prepared[InteractionData], rows: np.ndarray,
        generator: torch.Generator, progress: Progress, description: str,
    ) -> tuple[nn.Module, dict[str, Any]]:
        model = resolved.model_builder.build(prepared.data.meta, generator)
        log = fit_recommender(
            model, prepared.data, rows, resolved.train_spec, generator,
            validation_rows=prepared.split.validation, progress=progress, description=description,
        )
        meta = {"epochs_run": log.epochs_run, "best_epoch": log.best_epoch, "best_validation_auc": log.best_validation_auc,
                "n_train": int(len(rows))}
        return model, meta

    def restore(
        self, resolved: ResolvedExperiment, prepared: Prepared[InteractionData], rows: np.ndarray,
        state: Mapping[str, torch.Tensor],
    ) -> nn.Module:
        model: Recommender = resolved.model_builder.build(prepared.data.meta, torch.Generator().manual_seed(0))
        model.load_state_dict(state)
        # The propagation graph is not a parameter: it is rebuilt from the training rows.
        model.condition_on(prepared.data, rows)
        model.eval()
        return model

    def task(
        self, resolved: ResolvedExperiment, prepared: Prepared[InteractionData], generator: torch.Generator,
        progress: Progress,
    ) -> RecommendationTask:
        return RecommendationTask(prepared.data, prepared.split, resolved.train_spec, resolved.model_builder, generator, progress)

    def outputs(self, model: nn.Module, prepared: Prepared[InteractionData]) -> RecOutputs:
        return RecOutputs.compute(model, prepared.data, prepared.split)

    def stored_outputs(self, outputs: RecOutputs, prepared: Prepared[InteractionData]) -> StoredOutputs:
        stored = {}
        for name, scores in outputs.scores.items():
            logits = np.stack([np.zeros_like(scores), scores], axis=1).astype(np.float32)
            stored[name] = (logits, prepared.data.label[getattr(prepared.split, name)].astype(np.int64))
        return stored

    def metric_context(
        self,
        prepared: Prepared[InteractionData],
        evaluated: Evaluated[RecOutputs],
        reference: Evaluated[RecOutputs],
        original: Evaluated[RecOutputs],
        seed: int,
    ) -> RecEvalContext:
        return RecEvalContext(
            prepared.data, prepared.split, evaluated.model, evaluated.outputs, evaluated.seconds, evaluated.peak_memory_mib,
            reference.outputs, reference.seconds, original.outputs, seed,
        )

    def selection_gap(self, prepared: Prepared[InteractionData], outputs: RecOutputs, reference: RecOutputs, seed: int) -> float:
        """Mean |difference to the reference| in points: validation AUC and the forget rows' mean predicted probability.

        Validation AUC is the utility a recipe may not lose; the forget rows'
        mean probability is where a deletion acts (with flipped labels the
        retrained model scores them away from the labels the original saw).
        No test row is read.
        """
        labels = prepared.data.label[prepared.split.validation]
        auc_gap = abs(fn.pointwise_auc(outputs.scores["validation"], labels) - fn.pointwise_auc(reference.scores["validation"], labels))
        forget_gap = abs(mean_probability(outputs.scores["forget"]) - mean_probability(reference.scores["forget"]))
        return 100.0 * (auc_gap + forget_gap) / 2
