"""UNSIR (Tarun et al., "Fast Yet Effective Machine Unlearning", IEEE TNNLS 2023)."""

from __future__ import annotations

import time
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from unlearnkit.methods.base import UnlearnTask
from unlearnkit.methods.common import per_class_subset, with_remaining_budget
from unlearnkit.methods.defaults import TaskFacts
from unlearnkit.methods.optim import (
    OptimizerChoiceMethod,
    optimise,
    shuffled_epochs,
    steps_per_epoch,
)
from unlearnkit.params import Interval


def error_maximising_noise(
    model: nn.Module,
    labels: torch.Tensor,
    per_label: int,
    shape: tuple[int, ...],
    *,
    steps: int,
    lr: float,
    l2: float,
    generator: torch.Generator,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One block of ``per_label`` noise inputs per label, trained to maximise the model's CE on that label.

    Minimises −CE(f(N), y) + l2·mean_i ‖N_i‖² with Adam from N ~ 𝒩(0, 1), the
    model in eval mode and unchanged (gradients are taken w.r.t. N only).
    Returns (noise, noise_labels).
    """
    noise_labels = labels.repeat_interleave(per_label)
    noise = torch.randn(len(noise_labels), *shape, generator=generator).requires_grad_(True)
    optimizer = torch.optim.Adam([noise], lr=lr)
    was_training = model.training
    model.eval()
    try:
        for _ in range(steps):
            penalty = noise.pow(2).flatten(1).sum(1).mean()
            objective = -F.cross_entropy(model(noise), noise_labels) + l2 * penalty
            (noise.grad,) = torch.autograd.grad(objective, [noise])
            optimizer.step()
    finally:
        model.train(was_training)
    return noise.detach(), noise_labels


class Unsir(OptimizerChoiceMethod):
    """Error-maximising noise, then impair (noise + retain subset) and repair (retain subset).

    (1) For every label present in the forget set, learn a block of
    ``noise_per_label`` inputs that maximises the original's loss on that
    label (:func:`error_maximising_noise`). (2) Impair: train on the noise
    (labelled with its label, repeated ``noise_repeats`` times) shuffled with
    a retain subset of at most ``retain_per_class`` samples per class.
    (3) Repair: train on the retain subset alone. Class-wise in the paper;
    using the forget samples' own labels makes it apply to any forget set.
    Each phase uses a fresh optimiser (Adam by default), as in the reference
    implementation.

    Derived defaults (``None``): the recipe's batch size; Adam at lr 3e-3 (a
    constant, see :mod:`~unlearnkit.methods.defaults`; with
    ``optimizer="sgd"``, 0.2 x the recipe's rate), no weight decay for Adam
    on an SGD recipe.
    """

    description = "impair with error-maximising noise for the forget labels, then repair on retained data (UNSIR)"
    parameter_constraints = {
        **{k: v for k, v in OptimizerChoiceMethod.common_constraints.items() if k != "epochs"},
        "impair_epochs": Interval(int, 1, 1000),
        "noise_per_label": Interval(int, 1, None),
        "noise_steps": Interval(int, 1, 10_000),
        "noise_lr": Interval(float, 0.0, None, "neither"),
        "noise_l2": Interval(float, 0.0, None),
        "noise_repeats": Interval(int, 1, None),
        "retain_per_class": Interval(int, 1, None),
        "repair_epochs": Interval(int, 0, 1000),
    }
    search_space = {
        "lr": [1e-3, 3e-3, 1e-2, 2e-2],
        "noise_repeats": [1, 2, 5, 10],
        "repair_epochs": [1, 2, 3],
        "noise_l2": [0.01, 0.1, 1.0],
    }

    def __init__(
        self,
        *,
        noise_per_label: int = 32,
        noise_steps: int = 25,
        noise_lr: float = 0.1,
        noise_l2: float = 0.1,
        noise_repeats: int = 2,
        retain_per_class: int = 500,
        lr: float | None = None,
        impair_epochs: int = 1,
        repair_epochs: int = 1,
        batch_size: int | None = None,
        optimizer: str = "adam",
        momentum: float | None = None,
        weight_decay: float | None = None,
    ) -> None:
        self.optimizer = optimizer
        vars(self).update(lr=lr, batch_size=batch_size, momentum=momentum, weight_decay=weight_decay)
        self.noise_per_label = noise_per_label
        self.noise_steps = noise_steps
        self.noise_lr = noise_lr
        self.noise_l2 = noise_l2
        self.noise_repeats = noise_repeats
        self.retain_per_class = retain_per_class
        self.impair_epochs = impair_epochs
        self.repair_epochs = repair_epochs

    def derived_schedule(self, facts: TaskFacts, task: UnlearnTask) -> dict[str, Any]:
        return {"lr": self.default_rate(facts, sgd_fraction=0.2, adam_constant=3e-3)}

    def _unlearn(self, model: nn.Module, task: UnlearnTask) -> tuple[nn.Module, dict[str, Any]]:
        started = time.perf_counter()
        xr, yr = task.retain
        _, yf = task.forget
        noise, noise_labels = error_maximising_noise(
            model,
            torch.unique(yf),
            self.noise_per_label,
            tuple(xr.shape[1:]),
            steps=self.noise_steps,
            lr=self.noise_lr,
            l2=self.noise_l2,
            generator=task.generator,
        )
        subset = per_class_subset(yr, self.retain_per_class, task.generator)
        x_impair = torch.cat([noise.repeat(self.noise_repeats, 1, 1, 1), xr[subset]])
        y_impair = torch.cat([noise_labels.repeat(self.noise_repeats), yr[subset]])
        impair = self._phase(model, with_remaining_budget(task, started), x_impair, y_impair, self.impair_epochs, "impair")
        diagnostics = {f"impair_{k}": v for k, v in impair.items()}
        if self.repair_epochs > 0:
            repair = self._phase(
                model, with_remaining_budget(task, started), xr[subset], yr[subset], self.repair_epochs, "repair"
            )
            diagnostics.update({f"repair_{k}": v for k, v in repair.items()})
        return model, {**diagnostics, "noise_samples": len(noise_labels), "retain_subset_size": len(subset)}

    def _phase(
        self, model: nn.Module, task: UnlearnTask, x: torch.Tensor, y: torch.Tensor, epochs: int, name: str
    ) -> dict[str, Any]:
        params = [p for p in model.parameters() if p.requires_grad]
        model.train()
        return optimise(
            task,
            params,
            self.make_optimizer(params),
            shuffled_epochs(len(y), self.batch_size, epochs, task.generator),
            lambda b: F.cross_entropy(model(x[b]), y[b]),
            total_steps=epochs * steps_per_epoch(len(y), self.batch_size),
            description=f"{type(self).__name__} {name}",
        )
