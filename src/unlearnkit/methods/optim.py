"""The framework-owned optimisation loop shared by gradient-based methods.

A method supplies batches and a loss; the loop owns the optimiser, progress,
time budget and (through ``after_step``) constraints such as SalUn's mask.
"""

from __future__ import annotations

import time
from abc import abstractmethod
from collections.abc import Callable, Iterable, Iterator
from typing import Any, ClassVar

import torch
from torch import nn

from unlearnkit.errors import TrainingDivergedError
from unlearnkit.methods.base import UnlearningMethod, UnlearnTask
from unlearnkit.methods.defaults import (
    TaskFacts,
    adam_rate,
    optimiser_geometry,
    sgd_rate,
)
from unlearnkit.params import Constraint, Interval, NoneOr, Options


def shuffled_epochs(n: int, batch_size: int, epochs: int, generator: torch.Generator) -> Iterator[torch.Tensor]:
    """``epochs`` passes over ``range(n)`` in shuffled mini-batches."""
    for _ in range(epochs):
        order = torch.randperm(n, generator=generator)
        for start in range(0, n, batch_size):
            yield order[start : start + batch_size]


def paired_batches(
    n_main: int, n_other: int, batch_main: int, batch_other: int, epochs: int, generator: torch.Generator
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Epochs over the main set, each batch paired with a batch of the other set (cycled, reshuffled)."""
    others = shuffled_epochs(n_other, batch_other, 10**9, generator)
    for main in shuffled_epochs(n_main, batch_main, epochs, generator):
        yield main, next(others)


def steps_per_epoch(n: int, batch_size: int) -> int:
    return max(1, -(-n // batch_size))


def optimise(
    task: UnlearnTask,
    parameters: list[nn.Parameter],
    optimizer: torch.optim.Optimizer,
    batches: Iterable[Any],
    loss_fn: Callable[[Any], torch.Tensor],
    *,
    total_steps: int,
    description: str,
    after_step: Callable[[], None] | None = None,
) -> dict[str, Any]:
    """Run ``optimizer`` over ``batches``; returns diagnostics (steps, last loss, budget stop)."""
    start = time.perf_counter()
    steps, last_loss, stopped = 0, float("nan"), False
    with task.progress.task(description, total_steps) as bar:
        for batch in batches:
            if task.time_budget is not None and time.perf_counter() - start > task.time_budget:
                stopped = True
                break
            loss = loss_fn(batch)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if after_step is not None:
                after_step()
            steps += 1
            last_loss = float(loss.detach())
            bar.advance()
    if not all(torch.isfinite(p).all() for p in parameters):
        raise TrainingDivergedError(f"{description}: parameters became non-finite (learning rate too high?)")
    return {"steps": steps, "last_loss": last_loss, "stopped_by_time_budget": stopped}


class GradientMethod(UnlearningMethod):
    """Base for methods that run SGD with shared optimiser hyper-parameters.

    Each of ``lr``, ``epochs``, ``batch_size``, ``momentum`` and
    ``weight_decay`` may be ``None``: derived from the task
    (:mod:`unlearnkit.methods.defaults`; the rule is on each method's class).
    Constructors store them as given; ``_unlearn`` only runs on the copy made
    by ``resolve``, where they have the concrete types annotated below.
    """

    common_constraints: ClassVar[dict[str, Constraint]] = {
        "lr": NoneOr(Interval(float, 0.0, None, "neither")),
        "epochs": NoneOr(Interval(int, 1, 1000)),
        "batch_size": NoneOr(Interval(int, 1, None)),
        "momentum": NoneOr(Interval(float, 0.0, 1.0, "left")),
        "weight_decay": NoneOr(Interval(float, 0.0, None)),
    }

    lr: float
    momentum: float
    weight_decay: float
    batch_size: int
    epochs: int

    def __init__(
        self,
        *,
        lr: float | None = None,
        epochs: int | None = None,
        batch_size: int | None = None,
        momentum: float | None = None,
        weight_decay: float | None = None,
    ) -> None:
        """The shared hyper-parameters only (methods with more define their own constructor)."""
        vars(self).update(lr=lr, epochs=epochs, batch_size=batch_size, momentum=momentum, weight_decay=weight_decay)

    def derived_params(self, task: UnlearnTask) -> dict[str, Any]:
        """The shared rule (recipe's batch size, momentum, weight decay) plus the method's ``lr`` and ``epochs``."""
        facts = TaskFacts.of(task)
        return {**optimiser_geometry(facts), **self.derived_schedule(facts, task)}

    @abstractmethod
    def derived_schedule(self, facts: TaskFacts, task: UnlearnTask) -> dict[str, Any]:
        """The method's own derived values (``lr``, ``epochs`` and method-specific ones)."""

    def make_optimizer(self, parameters: list[nn.Parameter]) -> torch.optim.Optimizer:
        return torch.optim.SGD(parameters, lr=self.lr, momentum=self.momentum, weight_decay=self.weight_decay)

    def run(
        self,
        model: nn.Module,
        task: UnlearnTask,
        batches: Iterable[Any],
        loss_fn: Callable[[Any], torch.Tensor],
        total_steps: int,
        *,
        parameters: list[nn.Parameter] | None = None,
        after_step: Callable[[], None] | None = None,
    ) -> dict[str, Any]:
        params = parameters if parameters is not None else [p for p in model.parameters() if p.requires_grad]
        model.train()
        return optimise(
            task,
            params,
            self.make_optimizer(params),
            batches,
            loss_fn,
            total_steps=total_steps,
            description=type(self).__name__,
            after_step=after_step,
        )


class OptimizerChoiceMethod(GradientMethod):
    """A gradient method with an ``optimizer`` hyper-parameter ("sgd" or "adam").

    For methods whose published recipe uses Adam, or whose forget objective is
    flat at the original (Adam's normalised steps escape it); ``momentum``
    only applies to SGD.
    """

    common_constraints: ClassVar[dict[str, Constraint]] = {
        **GradientMethod.common_constraints,
        "optimizer": Options(("sgd", "adam")),
    }

    optimizer: str

    def derived_params(self, task: UnlearnTask) -> dict[str, Any]:
        """As :class:`GradientMethod`, but Adam on an SGD recipe gets no weight decay (see ``defaults``)."""
        derived = super().derived_params(task)
        if self.optimizer == "adam" and task.train_spec.optimizer != "adam":
            derived["weight_decay"] = 0.0
        return derived

    def default_rate(self, facts: TaskFacts, *, sgd_fraction: float, adam_constant: float) -> float:
        """The derived learning rate for the chosen optimiser (see :mod:`unlearnkit.methods.defaults`)."""
        return adam_rate(facts, adam_constant) if self.optimizer == "adam" else sgd_rate(facts, sgd_fraction)

    def make_optimizer(self, parameters: list[nn.Parameter]) -> torch.optim.Optimizer:
        if self.optimizer == "adam":
            return torch.optim.Adam(parameters, lr=self.lr, weight_decay=self.weight_decay)
        return torch.optim.SGD(parameters, lr=self.lr, momentum=self.momentum, weight_decay=self.weight_decay)
