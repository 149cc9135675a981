"""Boundary Shrink (Chen et al., "Boundary Unlearning", CVPR 2023)."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from unlearnkit.methods.base import UnlearnTask
from unlearnkit.methods.common import frozen_copy
from unlearnkit.methods.optim import (
    GradientMethod,
    paired_batches,
    shuffled_epochs,
    steps_per_epoch,
)
from unlearnkit.params import Boolean, Interval


def nearest_wrong_class(model: nn.Module, x: torch.Tensor, y: torch.Tensor, bound: float) -> tuple[torch.Tensor, torch.Tensor]:
    """The highest-scoring wrong class after one FGSM step of size ``bound`` (L∞) from each sample.

    Returns (labels, crossed): ``crossed`` marks samples whose FGSM step
    alone already changed the prediction. Inputs are normalised, so the step
    is not clamped to a pixel range (the reference code clamps to [0, 1]).
    The true class is excluded so the new label is always wrong; the
    reference code keeps the adversarial argmax even when the attack fails.
    """
    x_adv = x.detach().clone().requires_grad_(True)
    grad = torch.autograd.grad(F.cross_entropy(model(x_adv), y, reduction="sum"), x_adv)[0]
    with torch.no_grad():
        logits = model(x + bound * grad.sign())
        crossed = logits.argmax(1) != y
        logits[torch.arange(len(y)), y] = -torch.inf
        return logits.argmax(1), crossed


class BoundaryShrink(GradientMethod):
    """Relabel each forget sample with its nearest wrong class (FGSM from the original), then fine-tune on them.

    Neighbouring labels are found once with the frozen original (they do not
    change across epochs because the probe model is fixed). With
    ``with_retain`` each forget batch is paired with a retain batch trained
    on its true labels, which limits collateral damage; the paper trains on
    the relabelled forget samples only.
    """

    description = "relabel forget samples with the nearest wrong class found by FGSM and fine-tune (boundary shrink)"
    parameter_constraints = {
        **GradientMethod.common_constraints,
        "bound": Interval(float, 0.0, None, "neither"),
        "with_retain": Boolean(),
    }
    search_space = {"bound": [0.03, 0.1, 0.3], "lr": [1e-3, 3e-3, 1e-2], "epochs": [3, 5, 10], "with_retain": [False, True]}

    def __init__(
        self,
        *,
        bound: float = 0.1,
        with_retain: bool = False,
        lr: float = 1e-3,
        epochs: int = 5,
        batch_size: int = 32,
        momentum: float = 0.9,
        weight_decay: float = 5e-4,
    ) -> None:
        self.bound = bound
        self.with_retain = with_retain
        self.lr = lr
        self.epochs = epochs
        self.batch_size = batch_size
        self.momentum = momentum
        self.weight_decay = weight_decay

    def _unlearn(self, model: nn.Module, task: UnlearnTask) -> tuple[nn.Module, dict[str, Any]]:
        xf, yf = task.forget
        xr, yr = task.retain
        labels, crossed = nearest_wrong_class(frozen_copy(model), xf, yf, self.bound)
        total = self.epochs * steps_per_epoch(len(yf), self.batch_size)
        if self.with_retain:
            batches = paired_batches(len(yf), len(yr), self.batch_size, self.batch_size, self.epochs, task.generator)

            def loss(pair: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
                f, r = pair
                return F.cross_entropy(model(xf[f]), labels[f]) + F.cross_entropy(model(xr[r]), yr[r])

            diagnostics = self.run(model, task, batches, loss, total)
        else:
            plain = shuffled_epochs(len(yf), self.batch_size, self.epochs, task.generator)
            diagnostics = self.run(model, task, plain, lambda b: F.cross_entropy(model(xf[b]), labels[b]), total)
        return model, {**diagnostics, "fgsm_crossed_fraction": float(crossed.float().mean())}
