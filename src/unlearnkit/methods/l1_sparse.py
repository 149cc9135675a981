"""ℓ1-sparse unlearning (Jia et al., "Model sparsity can simplify machine unlearning", NeurIPS 2023)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from unlearnkit.methods.base import CLASSIFIER_KINDS, UnlearnTask
from unlearnkit.methods.optim import GradientMethod, shuffled_epochs, steps_per_epoch
from unlearnkit.params import Interval


def l1_norm(parameters: list[nn.Parameter]) -> torch.Tensor:
    """Σ|θ| over every given parameter (biases included, as in ``Unlearn-Sparse``)."""
    return torch.stack([p.abs().sum() for p in parameters]).sum()


def l1_weight(alpha: float, epoch: int, epochs: int, no_l1_epochs: int) -> float:
    """α_t: decays linearly from ``alpha`` at epoch 0 to 0, then 0 for the last ``no_l1_epochs`` epochs.

    Per epoch, as in ``Unlearn-Sparse`` ``unlearn/FT.py``: α·(1 − t / (E − E_no_l1)) for t < E − E_no_l1.
    """
    decay_epochs = epochs - no_l1_epochs
    return alpha * (1 - epoch / decay_epochs) if epoch < decay_epochs else 0.0


class L1Sparse(GradientMethod):
    """Fine-tune on the retain set with CE + α_t·‖θ‖₁ (``Unlearn-Sparse`` ``FT_l1``).

    Sparsity-promoting fine-tuning: the ℓ1 term pulls weights that the retain
    set does not need towards zero, which removes forget-specific capacity
    faster than plain fine-tuning; the last ``no_l1_epochs`` epochs recover
    accuracy without it. Note ‖θ‖₁ is a sum, so ``alpha`` is a per-weight
    shrinkage rate and does not depend on model size: the total pull on a
    weight is about lr·alpha·steps/2, so small data sets (few steps) need a
    larger ``alpha`` than the CIFAR recipe's 5e-4.
    """
    task_kinds = CLASSIFIER_KINDS

    description = "fine-tune on retain with a linearly decaying l1 penalty on the weights (l1-sparse)"
    parameter_constraints = {
        **GradientMethod.common_constraints,
        "alpha": Interval(float, 0.0, None),
        "no_l1_epochs": Interval(int, 0, None),
    }
    search_space = {
        "alpha": [5e-4, 2e-3, 5e-3, 1e-2],
        "lr": [3e-3, 1e-2, 3e-2],
        "epochs": [5, 10, 20],
        "no_l1_epochs": [0, 1, 2],
    }

    def __init__(
        self,
        *,
        alpha: float = 2e-3,
        no_l1_epochs: int = 2,
        lr: float = 0.01,
        epochs: int = 10,
        batch_size: int = 64,
        momentum: float = 0.9,
        weight_decay: float = 5e-4,
    ) -> None:
        self.alpha = alpha
        self.no_l1_epochs = no_l1_epochs
        self.lr = lr
        self.epochs = epochs
        self.batch_size = batch_size
        self.momentum = momentum
        self.weight_decay = weight_decay

    @classmethod
    def combination_problems(cls, params: Mapping[str, Any]) -> list[str]:
        if params["no_l1_epochs"] >= params["epochs"]:
            return [
                f"no_l1_epochs ({params['no_l1_epochs']}) must be smaller than epochs ({params['epochs']}) "
                "so that at least one epoch uses the l1 term"
            ]
        return []

    def _unlearn(self, model: nn.Module, task: UnlearnTask) -> tuple[nn.Module, dict[str, Any]]:
        x, y = task.retain
        params = [p for p in model.parameters() if p.requires_grad]
        l1_before = float(l1_norm(params).detach())

        def batches() -> Iterator[tuple[float, torch.Tensor]]:
            # One shuffle per epoch, so alpha = 0 reproduces Finetune's batches exactly.
            for epoch in range(self.epochs):
                weight = l1_weight(self.alpha, epoch, self.epochs, self.no_l1_epochs)
                for index in shuffled_epochs(len(y), self.batch_size, 1, task.generator):
                    yield weight, index

        def loss(batch: tuple[float, torch.Tensor]) -> torch.Tensor:
            weight, index = batch
            value = F.cross_entropy(model(x[index]), y[index])
            return value + weight * l1_norm(params) if weight > 0 else value

        total = self.epochs * steps_per_epoch(len(y), self.batch_size)
        diagnostics = self.run(model, task, batches(), loss, total, parameters=params)
        return model, {**diagnostics, "l1_before": l1_before, "l1_after": float(l1_norm(params).detach())}
