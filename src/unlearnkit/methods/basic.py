"""The first methods: retraining (the reference), fine-tuning, gradient ascent, random labels."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from unlearnkit.methods.base import CLASSIFIER_KINDS, UnlearningMethod, UnlearnTask
from unlearnkit.methods.defaults import StopWhenUnseen, TaskFacts, epoch_share, sgd_rate
from unlearnkit.methods.optim import (
    GradientMethod,
    OptimizerChoiceMethod,
    paired_batches,
    shuffled_epochs,
    steps_per_epoch,
)
from unlearnkit.params import Boolean, Interval
from unlearnkit.training.loop import train_model


class Retrain(UnlearningMethod):
    """Exact unlearning: train from scratch on the retain set with the original recipe.

    It defines success for the "untraining" goal and is the reference every
    other method is compared with. An empty forget set retrains on all of
    the training data (the method runs anyway).
    """
    task_kinds = CLASSIFIER_KINDS

    description = "retrain from scratch on the retain set (exact; the reference)"
    role = "retrain"
    empty_forget = "run"

    def _unlearn(self, model: nn.Module, task: UnlearnTask) -> tuple[nn.Module, dict[str, Any]]:
        fresh = task.model_builder.build(task.data.meta, task.generator)
        x, y = task.retain
        log = train_model(fresh, x, y, task.train_spec, task.generator, progress=task.progress, description="Retrain")
        return fresh, {"train_accuracy": log.train_accuracy, "epochs": log.epochs}


class Original(UnlearningMethod):
    """Do nothing: return the original model.

    The baseline that shows how much there is to forget: its gap to
    retraining is what every other method should close.
    """
    task_kinds = CLASSIFIER_KINDS

    description = "do nothing (the original model; shows how much there is to forget)"
    role = "original"

    def _unlearn(self, model: nn.Module, task: UnlearnTask) -> tuple[nn.Module, dict[str, Any]]:
        return model, {}


class Finetune(GradientMethod):
    """Fine-tune on the retain set only, relying on catastrophic forgetting.

    Derived defaults (``None``): the recipe's batch size, momentum and weight
    decay; ``lr`` = 0.2 x the recipe's peak rate and ``epochs`` = 10 % of the
    recipe's epochs (at least 1), so it costs about a tenth of retraining.
    A fifth of the peak rate moves the network out of the sharp minimum the
    cosine schedule ended in without re-running training's early, large steps.
    """
    task_kinds = CLASSIFIER_KINDS

    description = "fine-tune on the retain set (catastrophic forgetting)"
    parameter_constraints = dict(GradientMethod.common_constraints)
    search_space = {"lr": [1e-3, 3e-3, 1e-2, 3e-2], "epochs": [1, 3, 5, 10]}

    def derived_schedule(self, facts: TaskFacts, task: UnlearnTask) -> dict[str, Any]:
        return {"lr": sgd_rate(facts, 0.2), "epochs": epoch_share(facts, 0.1)}

    def _unlearn(self, model: nn.Module, task: UnlearnTask) -> tuple[nn.Module, dict[str, Any]]:
        x, y = task.retain
        batches = shuffled_epochs(len(y), self.batch_size, self.epochs, task.generator)
        total = self.epochs * steps_per_epoch(len(y), self.batch_size)
        return model, self.run(model, task, batches, lambda b: F.cross_entropy(model(x[b]), y[b]), total)


class NegGrad(OptimizerChoiceMethod):
    """Gradient ascent on the forget loss, stopped once the forget set looks like unseen data.

    On a model that memorised its forget set the loss is ~1e-4 and its
    gradient vanishes, so SGD at a stable learning rate does not move it
    (and a larger one diverges once it escapes); Adam is the default.

    Ascent is unbounded, so by default (``early_stop=True``) it stops before
    the first step at which the forget-set accuracy is at or below
    :func:`~unlearnkit.methods.defaults.unseen_forget_accuracy` of the
    original (its validation accuracy on the forget labels; 0 for a removed
    class): beyond that point the forget set would look *less* familiar than
    data never trained on. ``epochs`` is then a cap. ``early_stop=False``
    runs every epoch.

    Derived defaults (``None``): the recipe's batch size; Adam at lr 1e-4
    (a constant: Adam steps cannot be derived from an SGD rate; scaled for
    an Adam recipe, see :mod:`~unlearnkit.methods.defaults`; with
    ``optimizer="sgd"``, 0.02 x the recipe's rate), no weight decay for Adam
    on an SGD recipe (coupled L2 would dominate the vanishing ascent gradient);
    ``epochs`` = the recipe's epochs over the forget set, a cap that costs
    about the forget fraction of retraining.
    """
    task_kinds = CLASSIFIER_KINDS

    description = "gradient ascent on the forget set (stops when the forget set looks unseen)"
    parameter_constraints = {**OptimizerChoiceMethod.common_constraints, "early_stop": Boolean()}
    # Small learning rates first: on a memorised model ascent escapes the minimum
    # and then diverges, so the useful settings sit at the bottom of the range.
    search_space = {"lr": [1e-5, 3e-5, 1e-4, 3e-4, 1e-3], "epochs": [1, 2, 5, 10]}

    def __init__(
        self,
        *,
        early_stop: bool = True,
        lr: float | None = None,
        epochs: int | None = None,
        batch_size: int | None = None,
        optimizer: str = "adam",
        momentum: float | None = None,
        weight_decay: float | None = None,
    ) -> None:
        self.early_stop = early_stop
        self.optimizer = optimizer
        vars(self).update(lr=lr, epochs=epochs, batch_size=batch_size, momentum=momentum, weight_decay=weight_decay)

    def derived_schedule(self, facts: TaskFacts, task: UnlearnTask) -> dict[str, Any]:
        return {"lr": self.default_rate(facts, sgd_fraction=0.02, adam_constant=1e-4), "epochs": facts.epochs}

    def _unlearn(self, model: nn.Module, task: UnlearnTask) -> tuple[nn.Module, dict[str, Any]]:
        x, y = task.forget
        batches = shuffled_epochs(len(y), self.batch_size, self.epochs, task.generator)
        total = self.epochs * steps_per_epoch(len(y), self.batch_size)
        if not self.early_stop:
            return model, self.run(model, task, batches, lambda b: -F.cross_entropy(model(x[b]), y[b]), total)
        stop = StopWhenUnseen(model, task)
        diagnostics = self.run(model, task, stop.until_reached(batches), lambda b: -F.cross_entropy(model(x[b]), y[b]), total)
        return model, {**diagnostics, **stop.diagnostics()}


class NegGradPlus(OptimizerChoiceMethod):
    """Descent on retain and ascent on forget: L = alpha*CE(retain) - (1-alpha)*CE(forget).

    The ascent term is unbounded (on class forgetting it grows without limit
    once the class is forgotten), so by default (``early_stop=True``) training
    stops before the first step at which the forget-set accuracy is at or
    below :func:`~unlearnkit.methods.defaults.unseen_forget_accuracy`, as
    for :class:`NegGrad` (without it, the defaults left 84 % retain accuracy
    on fmnist_class).

    Derived defaults (``None``): the recipe's batch size; Adam at lr 3e-4
    (a constant, see :mod:`~unlearnkit.methods.defaults`; with
    ``optimizer="sgd"``, 0.01 x the recipe's rate), no weight decay for Adam
    on an SGD recipe, otherwise the recipe's momentum and weight decay;
    ``epochs`` = 10 % of the recipe's (at least 1).
    """
    task_kinds = CLASSIFIER_KINDS

    description = "gradient descent on retain plus ascent on forget (NegGrad+)"
    parameter_constraints = {
        **OptimizerChoiceMethod.common_constraints,
        "alpha": Interval(float, 0.0, 1.0),
        "early_stop": Boolean(),
    }
    search_space = {"lr": [1e-4, 3e-4, 1e-3], "epochs": [1, 3, 5], "alpha": [0.5, 0.9, 0.95, 0.99]}

    def __init__(
        self,
        *,
        alpha: float = 0.9,
        early_stop: bool = True,
        lr: float | None = None,
        epochs: int | None = None,
        batch_size: int | None = None,
        optimizer: str = "adam",
        momentum: float | None = None,
        weight_decay: float | None = None,
    ) -> None:
        self.alpha = alpha
        self.early_stop = early_stop
        self.optimizer = optimizer
        vars(self).update(lr=lr, epochs=epochs, batch_size=batch_size, momentum=momentum, weight_decay=weight_decay)

    def derived_schedule(self, facts: TaskFacts, task: UnlearnTask) -> dict[str, Any]:
        return {"lr": self.default_rate(facts, sgd_fraction=0.01, adam_constant=3e-4), "epochs": epoch_share(facts, 0.1)}

    def _unlearn(self, model: nn.Module, task: UnlearnTask) -> tuple[nn.Module, dict[str, Any]]:
        xr, yr = task.retain
        xf, yf = task.forget
        batches = paired_batches(len(yr), len(yf), self.batch_size, self.batch_size, self.epochs, task.generator)
        total = self.epochs * steps_per_epoch(len(yr), self.batch_size)

        def loss(pair: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
            r, f = pair
            return self.alpha * F.cross_entropy(model(xr[r]), yr[r]) - (1 - self.alpha) * F.cross_entropy(model(xf[f]), yf[f])

        if not self.early_stop:
            return model, self.run(model, task, batches, loss, total)
        stop = StopWhenUnseen(model, task)
        return model, {**self.run(model, task, stop.until_reached(batches), loss, total), **stop.diagnostics()}


def random_wrong_labels(y: torch.Tensor, n_classes: int, generator: torch.Generator) -> torch.Tensor:
    """A uniformly random label different from each true label."""
    shift = torch.randint(1, n_classes, y.shape, generator=generator)
    return (y + shift) % n_classes


class RandomLabel(GradientMethod):
    """Fine-tune on forget samples relabelled at random (wrong class), mixed with retain batches.

    Derived defaults (``None``): the recipe's batch size, momentum and weight
    decay; ``lr`` = 0.2 x the recipe's peak rate (as :class:`Finetune`) and
    ``epochs`` = 10 % of the recipe's (at least 1).
    """
    task_kinds = CLASSIFIER_KINDS

    description = "train forget samples towards random wrong labels, interleaved with retain"
    parameter_constraints = dict(GradientMethod.common_constraints)
    search_space = {"lr": [1e-3, 3e-3, 1e-2, 3e-2], "epochs": [1, 2, 3, 5]}

    def derived_schedule(self, facts: TaskFacts, task: UnlearnTask) -> dict[str, Any]:
        return {"lr": sgd_rate(facts, 0.2), "epochs": epoch_share(facts, 0.1)}

    def _unlearn(self, model: nn.Module, task: UnlearnTask) -> tuple[nn.Module, dict[str, Any]]:
        xr, yr = task.retain
        xf, yf = task.forget
        wrong = random_wrong_labels(yf, task.data.n_classes, task.generator)
        forget_batch = max(1, min(len(yf), self.batch_size // 4))
        batches = paired_batches(len(yr), len(yf), self.batch_size, forget_batch, self.epochs, task.generator)
        total = self.epochs * steps_per_epoch(len(yr), self.batch_size)

        def loss(pair: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
            # One concatenated batch, so each sample weighs the same whether it is
            # a relabelled forget sample or a retain sample (as in SalUn's RL).
            r, f = pair
            return F.cross_entropy(model(torch.cat([xr[r], xf[f]])), torch.cat([yr[r], wrong[f]]))

        return model, self.run(model, task, batches, loss, total)
