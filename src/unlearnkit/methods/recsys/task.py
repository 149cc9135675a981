"""The recommendation counterpart of ``UnlearnTask`` and the shared base of its methods."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import ClassVar, Literal

import numpy as np
import torch
from torch import nn

from unlearnkit.data.recsys.interactions import InteractionData
from unlearnkit.data.splits import Split
from unlearnkit.errors import SplitError
from unlearnkit.methods.base import UnlearningMethod
from unlearnkit.models.recsys.embedding import Recommender, RecommenderBuilder
from unlearnkit.progress import Progress, SilentProgress
from unlearnkit.training.recsys import RecTrainLog, RecTrainSpec, fit_recommender


@dataclass(frozen=True, eq=False)
class RecommendationTask:
    """Everything a recommendation unlearning method may use.

    ``data`` holds labels *as trained* (flipped rows included); ``split.forget``
    are training rows to erase. ``train_spec`` and ``model_builder`` describe
    how the original was made so that retraining follows the same recipe
    (with early stopping on ``split.validation``). All randomness comes from
    ``generator``.
    """

    data: InteractionData
    split: Split
    train_spec: RecTrainSpec
    model_builder: RecommenderBuilder
    generator: torch.Generator
    progress: Progress = field(default_factory=SilentProgress)
    time_budget: float | None = None

    kind: ClassVar[str] = "recommendation"

    def __post_init__(self) -> None:
        if self.split.n_samples != len(self.data):
            raise SplitError(f"the split covers {self.split.n_samples} rows but the data has {len(self.data)}")

    @cached_property
    def retain(self) -> np.ndarray:
        return self.split.retain

    @property
    def n_train(self) -> int:
        return int(self.split.train.size)


def fit_fresh(
    task: RecommendationTask, rows: np.ndarray, description: str
) -> tuple[Recommender, RecTrainLog]:
    """A new model from the task's builder, trained on ``rows`` with the task's recipe."""
    model = task.model_builder.build(task.data.meta, task.generator)
    log = fit_recommender(
        model, task.data, rows, task.train_spec, task.generator,
        validation_rows=task.split.validation, progress=task.progress, description=description,
    )
    return model, log


def train_original(task: RecommendationTask) -> Recommender:
    """The shared original: the task's recipe on every training row (forget rows included)."""
    model, _ = fit_fresh(task, task.split.train, "original")
    return model


def log_diagnostics(log: RecTrainLog) -> dict[str, float | int | None]:
    return {
        "epochs_run": log.epochs_run,
        "best_epoch": log.best_epoch,
        "train_seconds": float(sum(log.epoch_seconds)),
        "best_validation_auc": log.best_validation_auc,
    }


class RecommendationMethod(UnlearningMethod):
    """Base of recommendation methods (see ``original`` on :class:`UnlearningMethod` for sharded ones)."""

    task_kinds = frozenset({"recommendation"})
