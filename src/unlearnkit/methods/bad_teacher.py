"""Bad Teacher (Chundawat et al., "Can bad teaching induce forgetting?", AAAI 2023)."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from unlearnkit.methods.base import CLASSIFIER_KINDS, UnlearnTask
from unlearnkit.methods.common import frozen_copy, random_subset
from unlearnkit.methods.defaults import TaskFacts, epoch_share, readable
from unlearnkit.methods.optim import (
    OptimizerChoiceMethod,
    shuffled_epochs,
    steps_per_epoch,
)
from unlearnkit.params import Interval, NoneOr

# The reference implementation distils from 30 % of the retain set; the derived fraction never goes below it.
MIN_RETAIN_FRACTION = 0.3


def balanced_retain_fraction(task: UnlearnTask) -> float:
    """Share of the retain set giving each retain label as many samples as each forget label has, in [0.3, 1]."""
    _, y_forget = task.forget
    _, y_retain = task.retain
    per_forget_label = len(y_forget) / max(len(torch.unique(y_forget)), 1)
    wanted = per_forget_label * len(torch.unique(y_retain)) / max(len(y_retain), 1)
    return readable(min(1.0, max(MIN_RETAIN_FRACTION, wanted)))


class BadTeacher(OptimizerChoiceMethod):
    """Distil from a competent teacher on retain samples and an incompetent one on forget samples.

    The competent teacher is the original, the incompetent one a freshly
    initialised model of the same architecture (``task.model_builder``); the
    student starts from the original. Batches mix the forget set with a random
    ``retain_fraction`` of the retain set; each sample's target is its
    teacher's softmax at temperature T and the loss is
    KL(target ‖ p_T(student)), averaged over the batch. Adam by default, as
    in the reference implementation (``vikram2000b/bad-teaching-unlearning``).

    Derived defaults (``None``): the recipe's batch size; Adam at lr 1e-3 (a
    constant, see :mod:`~unlearnkit.methods.defaults`), no weight decay for
    Adam on an SGD recipe; ``epochs`` = 10 % of the recipe's (at least 1);
    ``retain_fraction`` large enough that each class kept in the retain set
    gets as many competent-teacher samples as each forget label gets
    incompetent-teacher ones (forget size / forget labels x retain labels /
    retain size), clipped to [0.3, 1]. 0.3, the reference implementation's
    value, is the floor; on class-level forgetting the balance asks for more:
    forgetting 4 of 40 people (6 photos each, 216 retain photos) it is the
    whole retain set, and on that case's tuning seed all of the retain set
    closed 0.90 of the selection gap against 0.52 with 0.3, keeping the
    retain accuracy (1.00 of the original's against 0.97).
    """

    retain_fraction: float
    task_kinds = CLASSIFIER_KINDS

    description = "distil retain from the original and forget from a random network (bad teacher)"
    parameter_constraints = {
        **OptimizerChoiceMethod.common_constraints,
        "temperature": Interval(float, 0.0, None, "neither"),
        "retain_fraction": NoneOr(Interval(float, 0.0, 1.0, "right")),
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
        retain_fraction: float | None = None,
        lr: float | None = None,
        epochs: int | None = None,
        batch_size: int | None = None,
        optimizer: str = "adam",
        momentum: float | None = None,
        weight_decay: float | None = None,
    ) -> None:
        self.optimizer = optimizer
        self.temperature = temperature
        vars(self).update(
            retain_fraction=retain_fraction, lr=lr, epochs=epochs, batch_size=batch_size, momentum=momentum, weight_decay=weight_decay
        )

    def derived_schedule(self, facts: TaskFacts, task: UnlearnTask) -> dict[str, Any]:
        return {
            "lr": self.default_rate(facts, sgd_fraction=0.2, adam_constant=1e-3),
            "epochs": epoch_share(facts, 0.1),
            "retain_fraction": balanced_retain_fraction(task),
        }

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
                target = torch.where(is_forget[index, None], F.softmax(incompetent(xb) / t, dim=1), F.softmax(competent(xb) / t, dim=1))
            return F.kl_div(F.log_softmax(model(xb) / t, dim=1), target, reduction="batchmean")

        batches = shuffled_epochs(len(x), self.batch_size, self.epochs, task.generator)
        total = self.epochs * steps_per_epoch(len(x), self.batch_size)
        diagnostics = self.run(model, task, batches, loss, total)
        return model, {**diagnostics, "retain_subset_size": len(subset)}
