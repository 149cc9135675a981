"""Amnesiac unlearning (Graves et al., AAAI 2021), in its relabel-and-fine-tune form."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from unlearnkit.methods.base import CLASSIFIER_KINDS, UnlearnTask
from unlearnkit.methods.basic import random_wrong_labels
from unlearnkit.methods.optim import (
    OptimizerChoiceMethod,
    shuffled_epochs,
    steps_per_epoch,
)


class Amnesiac(OptimizerChoiceMethod):
    """Relabel each forget sample once with a random wrong class, shuffle it into the retain set, fine-tune.

    Unlike ``random_label`` (fresh labels, paired forget/retain batches,
    SGD), the wrong labels are drawn once and the two sets form a single
    shuffled training set, trained with Adam by default as in the
    re-implementation in ``if-loops/selective-synaptic-dampening``.
    """
    task_kinds = CLASSIFIER_KINDS

    description = "fine-tune on retain plus forget samples relabelled with fixed random wrong classes (amnesiac)"
    parameter_constraints = dict(OptimizerChoiceMethod.common_constraints)
    search_space = {"lr": [1e-4, 3e-4, 1e-3, 3e-3], "epochs": [1, 3, 5]}

    def __init__(
        self,
        *,
        lr: float = 1e-3,
        epochs: int = 3,
        batch_size: int = 32,
        optimizer: str = "adam",
        momentum: float = 0.9,
        weight_decay: float = 0.0,
    ) -> None:
        self.optimizer = optimizer
        self.momentum = momentum
        self.lr = lr
        self.epochs = epochs
        self.batch_size = batch_size
        self.weight_decay = weight_decay

    def _unlearn(self, model: nn.Module, task: UnlearnTask) -> tuple[nn.Module, dict[str, Any]]:
        xr, yr = task.retain
        xf, yf = task.forget
        x = torch.cat([xf, xr])
        y = torch.cat([random_wrong_labels(yf, task.data.n_classes, task.generator), yr])
        batches = shuffled_epochs(len(y), self.batch_size, self.epochs, task.generator)
        total = self.epochs * steps_per_epoch(len(y), self.batch_size)
        return model, self.run(model, task, batches, lambda b: F.cross_entropy(model(x[b]), y[b]), total)
