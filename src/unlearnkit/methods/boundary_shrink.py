"""Boundary Shrink (Chen et al., "Boundary Unlearning", CVPR 2023)."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from unlearnkit.methods.base import UnlearnTask
from unlearnkit.methods.common import frozen_copy
from unlearnkit.methods.defaults import StopWhenUnseen, TaskFacts, epoch_share, removed_classes, sgd_rate
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
    ``with_retain`` every step trains one batch of ``batch_size // 4``
    relabelled forget samples together with ``batch_size`` retain samples on
    their true labels (as ``random_label`` mixes them), which limits
    collateral damage; the paper trains on the relabelled forget samples only.

    The method is class-wise by design: it drives every forget sample to a
    wrong class. With ``early_stop=True`` (default) training stops before the
    first step at which the forget-set accuracy is at or below
    :func:`~unlearnkit.methods.defaults.unseen_forget_accuracy` (0 for a
    removed class; the validation accuracy of the forget labels otherwise),
    so on random or within-class forgetting it stops once the forget set is
    no more familiar than unseen data instead of wrecking the classes it
    touches. ``epochs`` is then a cap.

    ``with_retain=True`` is the default: on the tuning case (10 % random
    forgetting) the forget-only variant left 76 % retain accuracy even with
    the stopping rule.

    Derived defaults (``None``): the recipe's batch size, momentum and weight
    decay; ``lr`` = 0.06 x the recipe's peak rate when the forget set takes
    whole classes with it, 0.02 x when it does not (the relabelled samples'
    loss starts near 4, so their gradients are large: 0.2 x cost 15 % of
    retain accuracy on random forgetting; without a removed class the
    stopping target is close to where the forget accuracy starts, so a
    smaller step overshoots it less: on the tuning case, 0.02 x kept 0.906
    of the original's retain accuracy against 0.900 at 0.06 x);
    ``epochs`` = 10 % of the recipe's (at least 1), a cap for the stopping rule.
    """

    description = "relabel forget samples with the nearest wrong class found by FGSM and fine-tune (boundary shrink)"
    parameter_constraints = {
        **GradientMethod.common_constraints,
        "bound": Interval(float, 0.0, None, "neither"),
        "with_retain": Boolean(),
        "early_stop": Boolean(),
    }
    search_space = {"bound": [0.03, 0.1, 0.3], "lr": [1e-3, 3e-3, 1e-2], "epochs": [3, 5, 10], "with_retain": [False, True]}

    def __init__(
        self,
        *,
        bound: float = 0.1,
        with_retain: bool = True,
        early_stop: bool = True,
        lr: float | None = None,
        epochs: int | None = None,
        batch_size: int | None = None,
        momentum: float | None = None,
        weight_decay: float | None = None,
    ) -> None:
        self.bound = bound
        self.with_retain = with_retain
        self.early_stop = early_stop
        vars(self).update(lr=lr, epochs=epochs, batch_size=batch_size, momentum=momentum, weight_decay=weight_decay)

    def derived_schedule(self, facts: TaskFacts, task: UnlearnTask) -> dict[str, Any]:
        fraction = 0.06 if len(removed_classes(task)) else 0.02
        return {"lr": sgd_rate(facts, fraction), "epochs": epoch_share(facts, 0.1)}

    def _unlearn(self, model: nn.Module, task: UnlearnTask) -> tuple[nn.Module, dict[str, Any]]:
        xf, yf = task.forget
        xr, yr = task.retain
        labels, crossed = nearest_wrong_class(frozen_copy(model), xf, yf, self.bound)
        stop = StopWhenUnseen(model, task) if self.early_stop else None
        if self.with_retain:
            forget_batch = max(1, self.batch_size // 4)
            total = self.epochs * steps_per_epoch(len(yf), forget_batch)
            batches = paired_batches(len(yf), len(yr), forget_batch, self.batch_size, self.epochs, task.generator)
            if stop is not None:
                batches = stop.until_reached(batches)

            def loss(pair: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
                # One batch, as in random_label: each relabelled forget sample weighs as much as a retain sample.
                f, r = pair
                return F.cross_entropy(model(torch.cat([xf[f], xr[r]])), torch.cat([labels[f], yr[r]]))

            diagnostics = self.run(model, task, batches, loss, total)
        else:
            total = self.epochs * steps_per_epoch(len(yf), self.batch_size)
            plain = shuffled_epochs(len(yf), self.batch_size, self.epochs, task.generator)
            if stop is not None:
                plain = stop.until_reached(plain)
            diagnostics = self.run(model, task, plain, lambda b: F.cross_entropy(model(xf[b]), labels[b]), total)
        if stop is not None:
            diagnostics.update(stop.diagnostics())
        return model, {**diagnostics, "fgsm_crossed_fraction": float(crossed.float().mean())}
