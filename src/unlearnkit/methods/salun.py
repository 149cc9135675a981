"""SalUn (Fan et al., ICLR 2024): random-label unlearning restricted to salient weights."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from unlearnkit.methods.base import CLASSIFIER_KINDS, UnlearnTask
from unlearnkit.methods.masking import FrozenCoordinates, saliency_mask
from unlearnkit.methods.optim import (
    GradientMethod,
    optimise,
    shuffled_epochs,
    steps_per_epoch,
)
from unlearnkit.params import Interval


class SalUn(GradientMethod):
    """Saliency mask m = top-``gamma`` fraction of |∇ L_GA(θ₀; D_f)|, then random-label training on m only.

    Each epoch relabels the forget samples uniformly at random (the true
    class may be drawn, as in ``Unlearn-Saliency`` ``unlearn/RL.py``) and
    trains on them shuffled together with the retain set. The mask is a hard
    constraint: :class:`FrozenCoordinates` keeps every weight outside it
    bit-identical to θ₀ despite weight decay and momentum (the fix of
    ``Unlearn-Saliency`` PR #33). The published code ranks saliency with an
    ascending sort; here the *largest* gradients are kept, as the paper states.
    """
    task_kinds = CLASSIFIER_KINDS

    description = "random-label unlearning restricted to the weights most salient for the forget loss (SalUn)"
    parameter_constraints = {**GradientMethod.common_constraints, "gamma": Interval(float, 0.0, 1.0, "right")}
    search_space = {"gamma": [0.1, 0.3, 0.5, 0.7], "lr": [3e-3, 1e-2, 3e-2], "epochs": [1, 2, 3, 5, 10]}

    def __init__(
        self,
        *,
        gamma: float = 0.5,
        lr: float = 0.01,
        epochs: int = 5,
        batch_size: int = 32,
        momentum: float = 0.9,
        weight_decay: float = 5e-4,
    ) -> None:
        self.gamma = gamma
        self.lr = lr
        self.epochs = epochs
        self.batch_size = batch_size
        self.momentum = momentum
        self.weight_decay = weight_decay

    def _unlearn(self, model: nn.Module, task: UnlearnTask) -> tuple[nn.Module, dict[str, Any]]:
        xr, yr = task.retain
        xf, yf = task.forget
        params = [p for p in model.parameters() if p.requires_grad]
        mask = saliency_mask(model, xf, yf, self.gamma)
        x = torch.cat([xf, xr])
        n_forget, n_classes = len(yf), task.data.n_classes

        def batches() -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
            for _ in range(self.epochs):
                labels = torch.cat([torch.randint(0, n_classes, (n_forget,), generator=task.generator), yr])
                for index in shuffled_epochs(len(labels), self.batch_size, 1, task.generator):
                    yield index, labels[index]

        def loss(batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
            index, labels = batch
            return F.cross_entropy(model(x[index]), labels)

        optimizer = self.make_optimizer(params)
        model.train()
        with FrozenCoordinates(params, mask) as frozen:
            diagnostics = optimise(
                task,
                params,
                optimizer,
                batches(),
                loss,
                total_steps=self.epochs * steps_per_epoch(len(x), self.batch_size),
                description=type(self).__name__,
                after_step=frozen.after_step(optimizer),
            )
        kept = sum(int(m.sum()) for m in mask)
        total = sum(m.numel() for m in mask)
        return model, {**diagnostics, "trainable_fraction": kept / total, "trainable_weights": kept}
