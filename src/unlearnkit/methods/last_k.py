"""CF-k and EU-k (Goel et al., "Towards adversarial evaluation of unlearning"): train only the last k blocks.

"The last k layers" means the last k entries of ``model.blocks()`` (the
classifier head is the last block). Everything else is frozen: excluded
from the optimiser (so weight decay and momentum cannot move it) and kept in
eval mode (so batch-norm running statistics in frozen blocks do not drift).
Frozen blocks therefore come out bit-identical. ``requires_grad`` is
restored afterwards so the returned model trains normally.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from unlearnkit.errors import InvalidParameterError
from unlearnkit.methods.base import CLASSIFIER_KINDS, UnlearnTask
from unlearnkit.methods.optim import GradientMethod, shuffled_epochs, steps_per_epoch
from unlearnkit.params import Interval


def split_blocks(model: nn.Module, k: int) -> tuple[list[nn.Module], list[nn.Module]]:
    """(frozen, trainable): all but the last ``k`` blocks, and the last ``k``."""
    blocks = model.blocks()
    if k > len(blocks):
        raise InvalidParameterError(f"the 'k' parameter ({k}) exceeds the model's {len(blocks)} blocks")
    return blocks[: len(blocks) - k], blocks[len(blocks) - k :]


@contextmanager
def only_trainable(model: nn.Module, trainable: list[nn.Module]) -> Iterator[list[nn.Parameter]]:
    """Disable gradients outside ``trainable`` for the duration; yields the trainable parameters."""
    previous = {p: p.requires_grad for p in model.parameters()}
    try:
        for p in model.parameters():
            p.requires_grad_(False)
        params = [p for block in trainable for p in block.parameters()]
        for p in params:
            p.requires_grad_(True)
        yield params
    finally:
        for p, flag in previous.items():
            p.requires_grad_(flag)


class _LastKMethod(GradientMethod):
    k: int

    def _train_last_k(self, model: nn.Module, task: UnlearnTask, frozen: list[nn.Module], trainable: list[nn.Module]) -> dict[str, Any]:
        x, y = task.retain
        batches = shuffled_epochs(len(y), self.batch_size, self.epochs, task.generator)
        total = self.epochs * steps_per_epoch(len(y), self.batch_size)

        def loss(batch: torch.Tensor) -> torch.Tensor:
            for block in frozen:  # ``run`` switches the whole model to train mode
                block.eval()
            return F.cross_entropy(model(x[batch]), y[batch])

        with only_trainable(model, trainable) as params:
            diagnostics = self.run(model, task, batches, loss, total, parameters=params)
        diagnostics["trained_parameters"] = sum(p.numel() for p in params)
        return diagnostics


class CatastrophicForgettingK(_LastKMethod):
    """CF-k: fine-tune only the last ``k`` blocks on the retain set.

    With few epochs it barely moves forget metrics (on MUFAC CF-3 stays near
    the original); it is a baseline, not a strong unlearner.
    """
    task_kinds = CLASSIFIER_KINDS

    description = "fine-tune only the last k blocks on the retain set (CF-k)"
    parameter_constraints = {**GradientMethod.common_constraints, "k": Interval(int, 1, None)}
    search_space = {"k": [1, 2, 3], "lr": [1e-3, 3e-3, 1e-2, 3e-2], "epochs": [2, 5, 10]}

    def __init__(
        self,
        *,
        k: int = 1,
        lr: float = 0.01,
        epochs: int = 5,
        batch_size: int = 64,
        momentum: float = 0.9,
        weight_decay: float = 5e-4,
    ) -> None:
        self.k = k
        self.lr = lr
        self.epochs = epochs
        self.batch_size = batch_size
        self.momentum = momentum
        self.weight_decay = weight_decay

    def _unlearn(self, model: nn.Module, task: UnlearnTask) -> tuple[nn.Module, dict[str, Any]]:
        frozen, trainable = split_blocks(model, self.k)
        return model, self._train_last_k(model, task, frozen, trainable)


class ExactUnlearningK(_LastKMethod):
    """EU-k: re-initialise the last ``k`` blocks and train them on the retain set.

    The new initial values come from a freshly built model
    (``task.model_builder.build(meta, task.generator)``), so the
    initialisation scheme is the original one. Exact only if the frozen
    blocks never depended on the forget set (they did), hence "exact" in name only.
    """
    task_kinds = CLASSIFIER_KINDS

    description = "re-initialise the last k blocks and train them on the retain set (EU-k)"
    parameter_constraints = {**GradientMethod.common_constraints, "k": Interval(int, 1, None)}
    search_space = {"k": [1, 2, 3], "lr": [3e-3, 1e-2, 3e-2, 1e-1], "epochs": [5, 10, 20]}

    def __init__(
        self,
        *,
        k: int = 1,
        lr: float = 0.01,
        epochs: int = 10,
        batch_size: int = 64,
        momentum: float = 0.9,
        weight_decay: float = 5e-4,
    ) -> None:
        self.k = k
        self.lr = lr
        self.epochs = epochs
        self.batch_size = batch_size
        self.momentum = momentum
        self.weight_decay = weight_decay

    def _unlearn(self, model: nn.Module, task: UnlearnTask) -> tuple[nn.Module, dict[str, Any]]:
        frozen, trainable = split_blocks(model, self.k)
        fresh = task.model_builder.build(task.data.meta, task.generator)
        fresh_blocks = fresh.blocks()[len(frozen) :]
        if len(fresh_blocks) != len(trainable):
            raise ValueError("the task's model builder does not build the same architecture as the model")
        for block, new in zip(trainable, fresh_blocks):
            block.load_state_dict(new.state_dict())
        return model, self._train_last_k(model, task, frozen, trainable)
