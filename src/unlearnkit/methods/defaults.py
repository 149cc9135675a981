"""Default hyper-parameters derived from the task a method is given.

A method's constructor parameters that default to ``None`` mean "derive from
the task": :meth:`UnlearningMethod.unlearn` fills them in from
:class:`TaskFacts` (the original's training recipe, the forget set's size and
fraction, the number of classes) before running, and records the values it
used in ``diagnostics["resolved_params"]``. Explicit values are used as given.

The shared rules, and why:

* **Optimiser geometry follows the recipe.** ``batch_size``, ``momentum`` and
  ``weight_decay`` default to the original's: the recipe's learning rate is
  only meaningful at its batch size and momentum, and weight decay is part of
  the objective whose minimum the original sits in.
* **SGD learning rates are a fraction of the recipe's peak rate**
  (:func:`sgd_rate`). Unlearning continues training from a minimum the
  recipe reached with a (cosine-)decayed rate; a fixed fraction of the peak
  keeps the step size in proportion to what the network was trained with,
  whatever its scale. The fraction is per method (documented on each class).
* **Adam learning rates cannot be derived from an SGD rate** (Adam's steps are
  normalised per coordinate, SGD's scale with the gradient), so a method that
  defaults to Adam uses a documented constant, scaled by the recipe's rate
  relative to Adam's customary 1e-3 when the recipe itself used Adam
  (:func:`adam_rate`). Adam on an SGD recipe gets no weight decay: coupled
  L2 inside Adam is rescaled per coordinate, so it is not the recipe's
  regulariser, and near a memorised minimum it would dominate the gradients.
* **Epoch budgets are a fraction of the recipe's epochs** (:func:`epoch_share`):
  a pass over the retain set costs about one training epoch, so a method's
  cost stays a fixed fraction of retraining's whatever the recipe's length.
* **Unbounded forgetting stops where unseen data would be**
  (:class:`StopWhenUnseen`): gradient ascent and relabelling drive the
  forget accuracy down without limit; they stop once it reaches the accuracy
  a model that never saw the forget set would have
  (:func:`unseen_forget_accuracy`: 0 for a class the retain set lacks, the
  validation accuracy of the forget labels otherwise), estimated without a
  retrained model and without test data.

The constants were chosen on validation data of tuning seeds of two cases
(``fmnist_random`` and ``person_orl``, ``benchmarks/defaults_probe.py``) and
checked on others (``benchmarks/results/defaults.md``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import torch
from torch import nn

from unlearnkit.errors import SplitError
from unlearnkit.methods.base import UnlearnTask
from unlearnkit.training.loop import predict_logits

T = TypeVar("T")


@dataclass(frozen=True)
class TaskFacts:
    """What default hyper-parameters may depend on: the recipe, the forget set's size, the classes."""

    lr: float
    epochs: int
    batch_size: int
    momentum: float
    weight_decay: float
    optimizer: str
    n_train: int
    n_forget: int
    n_classes: int

    @classmethod
    def of(cls, task: UnlearnTask) -> TaskFacts:
        spec = task.train_spec
        return cls(
            lr=spec.lr,
            epochs=spec.epochs,
            batch_size=spec.batch_size,
            momentum=spec.momentum,
            weight_decay=spec.weight_decay,
            optimizer=spec.optimizer,
            n_train=int(task.split.train.size),
            n_forget=int(task.split.forget.size),
            n_classes=task.data.n_classes,
        )

    @property
    def n_retain(self) -> int:
        return self.n_train - self.n_forget

    @property
    def forget_fraction(self) -> float:
        return self.n_forget / max(self.n_train, 1)


def readable(value: float) -> float:
    """``value`` to 6 significant digits, so that recorded derived values read as 0.01, not 0.010000000000000002."""
    return float(f"{value:.6g}")


def sgd_rate(facts: TaskFacts, fraction: float) -> float:
    """``fraction`` of the recipe's peak learning rate (see the module docstring), to 6 significant digits."""
    return readable(fraction * facts.lr)


# Adam's customary learning rate; the Adam constants of the methods are stated for a
# recipe trained with it (or with SGD) and scale with an Adam recipe's own rate.
ADAM_REFERENCE_RATE = 1e-3


def adam_rate(facts: TaskFacts, constant: float) -> float:
    """``constant`` for an SGD recipe; ``constant x recipe lr / 1e-3`` for an Adam recipe."""
    return constant * facts.lr / ADAM_REFERENCE_RATE if facts.optimizer == "adam" else constant


def epoch_share(facts: TaskFacts, fraction: float, minimum: int = 1) -> int:
    """``fraction x recipe epochs`` rounded (halves up), at least ``minimum``."""
    return max(minimum, math.floor(fraction * facts.epochs + 0.5))


def optimiser_geometry(facts: TaskFacts) -> dict[str, float | int]:
    """The recipe's batch size, momentum and weight decay (the shared rule)."""
    return {"batch_size": facts.batch_size, "momentum": facts.momentum, "weight_decay": facts.weight_decay}


def steps_for(n: int, batch_size: int) -> int:
    return max(1, math.ceil(n / batch_size))


def removed_classes(task: UnlearnTask) -> torch.Tensor:
    """Labels of the forget set that no retain sample has (whole classes removed)."""
    _, y_forget = task.forget
    _, y_retain = task.retain
    labels = torch.unique(y_forget)
    removed: torch.Tensor = labels[torch.logical_not(torch.isin(labels, torch.unique(y_retain)))]
    return removed


def unseen_forget_accuracy(model: nn.Module, task: UnlearnTask) -> float:
    """The forget-set accuracy expected of a model that never trained on it, estimated without retraining.

    Per forget label: 0 when no retain sample has that label (a model trained
    on the retain set never learns to predict a removed class); otherwise
    ``model``'s accuracy on validation samples of that label (data of the same
    class it never trained on; the overall validation accuracy when the label
    has none), weighted by the forget set's label frequencies. Only
    validation data is read, never test data.
    """
    x_val, y_val = task.validation
    _, y_forget = task.forget
    if len(y_val) == 0:
        raise SplitError("estimating the unseen-data accuracy needs validation samples; the validation set is empty")
    correct = (predict_logits(model, x_val).argmax(1) == y_val).float()
    removed = removed_classes(task)
    labels, counts = torch.unique(y_forget, return_counts=True)
    per_label = torch.stack(
        [
            torch.tensor(0.0)
            if bool(torch.isin(label, removed))
            else (correct[y_val == label].mean() if bool((y_val == label).any()) else correct.mean())
            for label in labels
        ]
    )
    return float((per_label * counts / counts.sum()).sum())


class StopWhenUnseen:
    """Ends a stream of batches once the forget-set accuracy falls to :func:`unseen_forget_accuracy`.

    The target is estimated once, with the model as it is when the object is
    made (the original); the check runs before every batch on the whole
    forget set (one forward pass in eval mode).
    """

    def __init__(self, model: nn.Module, task: UnlearnTask) -> None:
        self.model = model
        self.x, self.y = task.forget
        self.target = unseen_forget_accuracy(model, task)
        self.steps = 0
        self.reached: bool = False
        self.last_accuracy = float("nan")

    def accuracy(self) -> float:
        return float((predict_logits(self.model, self.x).argmax(1) == self.y).float().mean())

    def until_reached(self, batches: Iterable[T]) -> Iterator[T]:
        for batch in batches:
            self.last_accuracy = self.accuracy()
            if self.last_accuracy <= self.target:
                self.reached = True
                return
            self.steps += 1
            yield batch

    def diagnostics(self) -> dict[str, Any]:
        return {
            "stop_target_forget_acc": self.target,
            "stop_reached": self.reached,
            "steps_before_stop": self.steps,
            "last_checked_forget_acc": self.last_accuracy,
        }
