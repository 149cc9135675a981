"""Selective Synaptic Dampening (Foster, Schoepf, Brintrup, AAAI 2024).

No training: compare each parameter's importance to the forget set with its
importance to the whole training set and shrink the ones the forget set
dominates.

Importance convention (as in ``if-loops/selective-synaptic-dampening``
``src/ssd.py``, ``calc_importance``): the squared gradient of the *batch-mean*
loss, summed over mini-batches and divided by the number of samples,
``I = (1/N) sum_batches (grad mean_batch l)^2``. It is not the per-example
diagonal Fisher ``E[(grad l)^2]``; ``batch_size=1`` gives that. Batch layout
as in the official ``forget_random_main.py``: the forget loader is not
shuffled and the whole-set loader is the retain set (in random order, from
``random_split``) followed by the forget set, unshuffled. Here the whole-set
sum is the retain batches' sum plus exactly the forget batches' sum, so
``I_D = (S_retain + S_forget) / N`` and ``I_Df = S_forget / n_f`` share their
forget batches (the official code does the same except for one boundary
batch mixing the retain tail with the first forget samples), which bounds
``I_Df / I_D <= N / n_f``: ``selection_weighting`` must be below that ratio
to select anything. The model is in eval mode, as in the official code.

Per-batch importances are fragile near an optimum: batch means of retain
gradients nearly cancel when a batch covers most of a memorised training
set, so ``I_D`` collapses and almost everything the forget set touches is
dampened. Smaller batches (or ``batch_size=1``) are more robust on small data.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from unlearnkit.methods.base import CLASSIFIER_KINDS, UnlearningMethod, UnlearnTask
from unlearnkit.methods.flat_loss import FlatLoss, parameter_names
from unlearnkit.params import Interval


def squared_batch_gradients(loss: FlatLoss, x: torch.Tensor, y: torch.Tensor, order: torch.Tensor, batch_size: int) -> torch.Tensor:
    """sum over mini-batches (taken in ``order``) of the squared gradient of the batch-mean loss."""
    total = torch.zeros_like(loss.theta0)
    for start in range(0, len(order), batch_size):
        batch = order[start : start + batch_size]
        total += (loss.grad_sum(loss.theta0, x[batch], y[batch], batch_size) / len(batch)).pow(2)
    return total


def dampening_factors(
    importance_all: torch.Tensor, importance_forget: torch.Tensor, selection_weighting: float, dampening: float
) -> torch.Tensor:
    """Multiplier per parameter: ``min(lambda*I_D/I_Df, 1)`` where ``I_Df > alpha*I_D``, else exactly 1."""
    selected = importance_forget > selection_weighting * importance_all
    factors = torch.ones_like(importance_all)
    ratio = dampening * importance_all[selected] / importance_forget[selected]
    factors[selected] = ratio.clamp(max=1.0)
    return factors


class SelectiveSynapticDampening(UnlearningMethod):
    """Dampen parameters far more important to the forget set than to the training set.

    ``selection_weighting`` (alpha) selects parameters with ``I_Df > alpha * I_D``;
    ``dampening`` (lambda) sets their multiplier ``min(lambda * I_D / I_Df, 1)``.
    Published defaults alpha=10, lambda=1, batch 128 (ResNet-18, CIFAR); the
    authors used alpha=50, lambda=0.1 for face identities (PinsFaceRecognition).
    A selected parameter keeps at least ``lambda * n_f / N`` of its value, so
    with lambda=1 and a forget set of a few percent it is nearly zeroed: on
    tiny networks, where forget-dominated parameters also serve the retain
    set, the defaults are destructive and larger lambda (5-10) is needed.
    """
    task_kinds = CLASSIFIER_KINDS

    description = "selective synaptic dampening: shrink parameters the forget set dominates (no training)"
    parameter_constraints = {
        "selection_weighting": Interval(float, 0.0, None, "neither"),
        "dampening": Interval(float, 0.0, None, "neither"),
        "batch_size": Interval(int, 1, None),
    }
    search_space = {"selection_weighting": [1.0, 5.0, 10.0, 25.0, 50.0], "dampening": [0.1, 0.5, 1.0, 2.0]}

    def __init__(self, *, selection_weighting: float = 10.0, dampening: float = 1.0, batch_size: int = 128) -> None:
        self.selection_weighting = selection_weighting
        self.dampening = dampening
        self.batch_size = batch_size

    def importances(self, model: nn.Module, task: UnlearnTask) -> tuple[FlatLoss, torch.Tensor, torch.Tensor]:
        """The flat loss, I_D over the whole training set and I_Df over the forget set."""
        model.eval()
        loss = FlatLoss(model, parameter_names(model, None))
        x_forget, y_forget = task.forget
        x_retain, y_retain = task.retain
        forget_sum = squared_batch_gradients(loss, x_forget, y_forget, torch.arange(len(y_forget)), self.batch_size)
        retain_order = torch.randperm(len(y_retain), generator=task.generator)
        retain_sum = squared_batch_gradients(loss, x_retain, y_retain, retain_order, self.batch_size)
        importance_all = (retain_sum + forget_sum) / (len(y_retain) + len(y_forget))
        return loss, importance_all, forget_sum / len(y_forget)

    def _unlearn(self, model: nn.Module, task: UnlearnTask) -> tuple[nn.Module, dict[str, Any]]:
        loss, importance_all, importance_forget = self.importances(model, task)
        factors = dampening_factors(importance_all, importance_forget, self.selection_weighting, self.dampening)
        loss.write(loss.theta0 * factors)
        dampened = factors < 1.0
        return model, {
            "parameters": loss.size,
            "selected": int((importance_forget > self.selection_weighting * importance_all).sum()),
            "dampened": int(dampened.sum()),
            # undefined (None) when nothing was dampened
            "mean_factor_of_dampened": float(factors[dampened].mean()) if dampened.any() else None,
        }
