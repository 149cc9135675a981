"""Small pieces shared by the distillation, relabelling and noise methods."""

from __future__ import annotations

import copy
import dataclasses
import time

import torch
import torch.nn.functional as F
from torch import nn

from unlearnkit.errors import ModelStructureError
from unlearnkit.methods.base import UnlearnTask
from unlearnkit.models.base import Classifier


def distillation_kl(student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """KL(p_T(teacher) || p_T(student)) averaged over the batch, times T².

    The T² factor keeps gradient magnitudes comparable across temperatures
    (Hinton et al.; SCRUB's ``DistillKL`` uses the same scaling).
    """
    student = F.log_softmax(student_logits / temperature, dim=1)
    teacher = F.log_softmax(teacher_logits / temperature, dim=1)
    return F.kl_div(student, teacher, reduction="batchmean", log_target=True) * temperature**2


def classifier_blocks(model: nn.Module, parameter: str) -> list[nn.Module]:
    """``model.blocks()`` (its parameterised stages in order, then the head) for a :class:`Classifier`."""
    if not isinstance(model, Classifier):
        raise ModelStructureError(
            f"the {parameter!r} parameter counts the model's layers in order (blocks()), which only a "
            f"unlearnkit.models.Classifier exposes; got a {type(model).__name__}"
        )
    return model.blocks()


def frozen_copy(model: nn.Module) -> nn.Module:
    """A deep copy in eval mode whose parameters take no gradient (a teacher or a reference)."""
    teacher = copy.deepcopy(model).eval()
    for p in teacher.parameters():
        p.requires_grad_(False)
    return teacher


def random_subset(n: int, fraction: float, generator: torch.Generator) -> torch.Tensor:
    """``round(fraction * n)`` distinct indices of ``range(n)`` (at least one when ``n > 0``)."""
    size = min(n, max(1, round(fraction * n))) if n > 0 else 0
    return torch.randperm(n, generator=generator)[:size]


def per_class_subset(y: torch.Tensor, per_class: int, generator: torch.Generator) -> torch.Tensor:
    """Up to ``per_class`` random indices of each class present in ``y`` (sorted)."""
    order = torch.randperm(len(y), generator=generator)
    chosen = [order[y[order] == c][:per_class] for c in torch.unique(y)]
    return torch.sort(torch.cat(chosen)).values if chosen else torch.zeros(0, dtype=torch.long)


def with_remaining_budget(task: UnlearnTask, started: float) -> UnlearnTask:
    """The task with its time budget reduced by the time spent since ``started``.

    Multi-phase methods run the framework loop several times; each run must
    only get what is left of the caller's budget.
    """
    if task.time_budget is None:
        return task
    remaining = max(0.0, task.time_budget - (time.perf_counter() - started))
    return dataclasses.replace(task, time_budget=remaining)


