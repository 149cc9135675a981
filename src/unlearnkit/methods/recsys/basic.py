"""Retraining, fine-tuning and gradient ascent for recommenders."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from unlearnkit.errors import InvalidParameterError
from unlearnkit.methods.optim import optimise, shuffled_epochs, steps_per_epoch
from unlearnkit.methods.recsys.task import (
    RecommendationMethod,
    RecommendationTask,
    fit_fresh,
    log_diagnostics,
)
from unlearnkit.models.recsys.embedding import Recommender, row_losses
from unlearnkit.params import Interval
from unlearnkit.training.recsys import rows_tensors


def require_recommender(model: nn.Module, method: str) -> Recommender:
    if not isinstance(model, Recommender):
        raise InvalidParameterError(f"{method} unlearns a single MF/LightGCN Recommender; got {type(model).__name__}")
    return model


class RetrainRec(RecommendationMethod):
    """Exact unlearning: the original recipe from scratch on the retained rows and their graph.

    Early stopping on validation AUC as for the original; every epoch that ran
    is part of the timing. An empty forget set retrains on all training rows.
    """

    description = "retrain from scratch on the retained interactions (exact; the reference)"
    role = "retrain"
    empty_forget = "run"

    def _unlearn(
        self, model: nn.Module, task: RecommendationTask  # type: ignore[override]  # unlearn() admits only task_kinds' tasks
    ) -> tuple[nn.Module, dict[str, Any]]:
        fresh, log = fit_fresh(task, task.retain, "RetrainRec")
        return fresh, log_diagnostics(log)


class OriginalRec(RecommendationMethod):
    """Do nothing: the shared original, still conditioned on the graph with the forgotten edges.

    The baseline row that shows the gap to retraining every method should close.
    """

    description = "do nothing (the original recommender; shows how much there is to forget)"
    role = "original"

    def _unlearn(
        self, model: nn.Module, task: RecommendationTask  # type: ignore[override]  # unlearn() admits only task_kinds' tasks
    ) -> tuple[nn.Module, dict[str, Any]]:
        return require_recommender(model, type(self).__name__), {}


class _RowGradientMethod(RecommendationMethod):
    """Adam steps on a row loss with the model conditioned on the retained graph."""

    lr: float
    epochs: int
    batch_size: int
    common_constraints = {
        "lr": Interval(float, 0.0, None, "neither"),
        "epochs": Interval(int, 1, 1000),
        "batch_size": Interval(int, 1, None),
    }

    def _steps(self, model: Recommender, task: RecommendationTask, rows: np.ndarray, sign: float) -> dict[str, Any]:
        model.condition_on(task.data, task.retain)
        users, items, labels = rows_tensors(task.data, rows)
        params = [model.user_embedding, model.item_embedding]
        l2 = task.train_spec.l2

        def loss(batch: torch.Tensor) -> torch.Tensor:
            per_row = row_losses(
                model.user_embedding, model.item_embedding, model.graph, model.layers,
                users[batch], items[batch], labels[batch], l2,
            )
            return sign * per_row.mean()

        model.train()
        return optimise(
            task,  # type: ignore[arg-type]  # optimise reads only progress and time_budget
            params,
            torch.optim.Adam(params, lr=self.lr),
            shuffled_epochs(len(rows), self.batch_size, self.epochs, task.generator),
            loss,
            total_steps=self.epochs * steps_per_epoch(len(rows), self.batch_size),
            description=type(self).__name__,
        )


class FinetuneRec(_RowGradientMethod):
    """Continue training the original on the retained rows (and their graph) for a few epochs."""

    description = "fine-tune on the retained interactions"
    parameter_constraints = dict(_RowGradientMethod.common_constraints)
    search_space = {"lr": [3e-4, 1e-3, 3e-3], "epochs": [1, 3, 5, 10]}

    def __init__(self, *, lr: float = 1e-3, epochs: int = 3, batch_size: int = 2048) -> None:
        self.lr = lr
        self.epochs = epochs
        self.batch_size = batch_size

    def _unlearn(
        self, model: nn.Module, task: RecommendationTask  # type: ignore[override]  # unlearn() admits only task_kinds' tasks
    ) -> tuple[nn.Module, dict[str, Any]]:
        rec = require_recommender(model, type(self).__name__)
        return rec, self._steps(rec, task, task.retain, +1.0)


class NegGradRec(_RowGradientMethod):
    """Gradient ascent on the forgotten rows' loss (labels as the original saw them)."""

    description = "gradient ascent on the forgotten interactions"
    parameter_constraints = dict(_RowGradientMethod.common_constraints)
    search_space = {"lr": [1e-4, 3e-4, 1e-3], "epochs": [1, 2, 5]}

    def __init__(self, *, lr: float = 3e-4, epochs: int = 1, batch_size: int = 256) -> None:
        self.lr = lr
        self.epochs = epochs
        self.batch_size = batch_size

    def _unlearn(
        self, model: nn.Module, task: RecommendationTask  # type: ignore[override]  # unlearn() admits only task_kinds' tasks
    ) -> tuple[nn.Module, dict[str, Any]]:
        rec = require_recommender(model, type(self).__name__)
        return rec, self._steps(rec, task, task.split.forget, -1.0)
