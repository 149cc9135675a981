"""Bad Teacher (Chundawat et al., "Can bad teaching induce forgetting?", AAAI 2023)."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from unlearnkit.methods.base import CLASSIFIER_KINDS, UnlearnTask
from unlearnkit.methods.common import frozen_copy, random_subset
from unlearnkit.methods.optim import (
    OptimizerChoiceMethod,
    shuffled_epochs,
    steps_per_epoch,
)
from unlearnkit.params import Interval


class BadTeacher(OptimizerChoiceMethod):
    """Distil from a competent teacher on retain samples and an incompetent one on forget samples.

    The competent teacher is the original, the incompetent one a freshly
    initialised model of the same architecture (``task.model_builder``); the
    student starts from the original. Batches mix the forget set with a random
    ``retain_fraction`` of the retain set; each sample's target is its
    teacher's softmax at temperature T and the loss is
    KL(target ‖ p_T(student)), averaged over the batch. Adam by default, as
    in the reference implementation (``vikram2000b/bad-teaching-unlearning``).
    """
    task_kinds = CLASSIFIER_KINDS

    description = "distil retain from the original and forget from a random network (bad teacher)"
    parameter_constraints = {
        **OptimizerChoiceMethod.common_constraints,
        "temperature": Interval(float, 0.0, None, "neither"),
        "retain_fraction": Interval(float, 0.0, 1.0, "right"),
    }
    search_space = {
        "lr": [1e-4, 3e-4, 1e-3, 3e-3],
        "epochs": [1, 3, 5],
        "temperature": [1.0, 2.0, 4.0],
        "retain_fraction": [0.1, 0.3, 0.5],
    }

    def __init__(
        self,
        *,
        temperature: float = 1.0,
        retain_fraction: float = 0.3,
        lr: float = 1e-3,
        epochs: int = 3,
        batch_size: int = 32,
        optimizer: str = "adam",
        momentum: float = 0.9,
        weight_decay: float = 0.0,
    ) -> None:
        self.optimizer = optimizer
        self.momentum = momentum
        self.temperature = temperature
        self.retain_fraction = retain_fraction
        self.lr = lr
        self.epochs = epochs
        self.batch_size = batch_size
        self.weight_decay = weight_decay

    def _unlearn(self, model: nn.Module, task: UnlearnTask) -> tuple[nn.Module, dict[str, Any]]:
        xr, _ = task.retain
        xf, _ = task.forget
        competent = frozen_copy(model)
        incompetent = frozen_copy(task.model_builder.build(task.data.meta, task.generator))
        subset = random_subset(len(xr), self.retain_fraction, task.generator)
        x = torch.cat([xf, xr[subset]])
        is_forget = torch.cat([torch.ones(len(xf), dtype=torch.bool), torch.zeros(len(subset), dtype=torch.bool)])
        t = self.temperature

        def loss(index: torch.Tensor) -> torch.Tensor:
            xb = x[index]
            with torch.no_grad():
                target = torch.where(
                    is_forget[index, None], F.softmax(incompetent(xb) / t, dim=1), F.softmax(competent(xb) / t, dim=1)
                )
            return F.kl_div(F.log_softmax(model(xb) / t, dim=1), target, reduction="batchmean")

        batches = shuffled_epochs(len(x), self.batch_size, self.epochs, task.generator)
        total = self.epochs * steps_per_epoch(len(x), self.batch_size)
        diagnostics = self.run(model, task, batches, loss, total)
        return model, {**diagnostics, "retain_subset_size": len(subset)}
