"""Per-epoch learning-rate schedules on top of the framework's ``optimise`` loop.

Some published recipes (the NeurIPS-2023 winners) step their scheduler once
per epoch; the schedule is applied through ``optimise``'s ``after_step`` hook
so the loop keeps owning the time budget, progress and finiteness checks.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import nn

from unlearnkit.methods.base import UnlearnTask
from unlearnkit.methods.optim import GradientMethod, optimise


def cosine_epoch_factor(epochs: int) -> Callable[[int], float]:
    """``CosineAnnealingLR(T_max=epochs)`` stepped per epoch: epoch e uses ``(1 + cos(pi e / epochs)) / 2``."""
    return lambda epoch: 0.5 * (1.0 + math.cos(math.pi * epoch / epochs))


def triangular_epoch_factor(epochs: int) -> Callable[[int], float]:
    """Linear warm-up then linear decay over ``epochs + 1`` scheduler steps (kgltop2's ``LinearAnnealingLR``).

    The scheduler's step count during epoch e is ``c = e + 1``; the peak is at
    ``a = (epochs + 1) // 2`` and the rate would reach zero at ``epochs + 1``.
    For 5 epochs the factors are 1/3, 2/3, 1, 2/3, 1/3.
    """
    peak, end = (epochs + 1) // 2, epochs + 1

    def factor(epoch: int) -> float:
        count = epoch + 1
        return count / peak if count <= peak else (end - count) / (end - peak)

    return factor


def run_with_epoch_schedule(
    method: GradientMethod,
    model: nn.Module,
    task: UnlearnTask,
    parameters: list[nn.Parameter],
    batches: Iterable[Any],
    loss_fn: Callable[[Any], torch.Tensor],
    *,
    steps_per_epoch: int,
    factor: Callable[[int], float],
) -> dict[str, Any]:
    """SGD with ``method``'s hyper-parameters, the rate multiplied by ``factor(epoch)``."""
    optimizer = method.make_optimizer(parameters)
    base = [group["lr"] for group in optimizer.param_groups]
    steps = 0

    def set_epoch(epoch: int) -> None:
        for group, lr in zip(optimizer.param_groups, base, strict=True):
            group["lr"] = lr * factor(epoch)

    def after_step() -> None:
        nonlocal steps
        steps += 1
        if steps % steps_per_epoch == 0:
            set_epoch(steps // steps_per_epoch)

    set_epoch(0)
    model.train()
    return optimise(
        task,
        parameters,
        optimizer,
        batches,
        loss_fn,
        total_steps=method.epochs * steps_per_epoch,
        description=type(method).__name__,
        after_step=after_step,
    )
