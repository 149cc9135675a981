"""One deterministic training loop, plus batched inference helpers.

Randomness (shuffling) comes only from the ``torch.Generator`` passed in.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from unlearnkit.models.base import Classifier
from unlearnkit.params import Configurable, Interval, Options
from unlearnkit.progress import Progress, SilentProgress


class TrainSpec(Configurable):
    """The training recipe shared by the original model and retraining."""

    parameter_constraints = {
        "epochs": Interval(int, 1, 10_000),
        "batch_size": Interval(int, 1, None),
        "lr": Interval(float, 0.0, None, "neither"),
        "momentum": Interval(float, 0.0, 1.0, "left"),
        "weight_decay": Interval(float, 0.0, None),
        "optimizer": Options(("sgd", "adam")),
        "schedule": Options(("cosine", "constant")),
    }

    def __init__(
        self,
        *,
        epochs: int = 20,
        batch_size: int = 64,
        lr: float = 0.05,
        momentum: float = 0.9,
        weight_decay: float = 5e-4,
        optimizer: str = "sgd",
        schedule: str = "cosine",
    ) -> None:
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.momentum = momentum
        self.weight_decay = weight_decay
        self.optimizer = optimizer
        self.schedule = schedule

    def make_optimizer(self, params: list[nn.Parameter]) -> torch.optim.Optimizer:
        if self.optimizer == "adam":
            return torch.optim.Adam(params, lr=self.lr, weight_decay=self.weight_decay)
        return torch.optim.SGD(params, lr=self.lr, momentum=self.momentum, weight_decay=self.weight_decay)

    def lr_at(self, step: int, total_steps: int) -> float:
        if self.schedule == "constant":
            return self.lr
        return 0.5 * self.lr * (1.0 + math.cos(math.pi * step / max(total_steps, 1)))


@dataclass(frozen=True)
class TrainLog:
    seconds: float
    epochs: int
    train_loss: float
    train_accuracy: float


def minibatches(n: int, batch_size: int, generator: torch.Generator | None) -> Iterator[torch.Tensor]:
    """Index batches over ``range(n)``, shuffled by ``generator`` (in order when None)."""
    order = torch.randperm(n, generator=generator) if generator is not None else torch.arange(n)
    for start in range(0, n, batch_size):
        yield order[start : start + batch_size]


def train_model(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    spec: TrainSpec,
    generator: torch.Generator,
    *,
    progress: Progress | None = None,
    description: str = "train",
) -> TrainLog:
    """Train ``model`` in place on (x, y) with the recipe ``spec``."""
    spec.validate_params()
    if len(y) == 0:
        raise ValueError("cannot train on an empty set")
    optimizer = spec.make_optimizer([p for p in model.parameters() if p.requires_grad])
    steps_per_epoch = math.ceil(len(y) / spec.batch_size)
    total = spec.epochs * steps_per_epoch
    step = 0
    start = time.perf_counter()
    model.train()
    with (progress or SilentProgress()).task(description, spec.epochs) as bar:
        for _ in range(spec.epochs):
            for batch in minibatches(len(y), spec.batch_size, generator):
                for group in optimizer.param_groups:
                    group["lr"] = spec.lr_at(step, total)
                loss = F.cross_entropy(model(x[batch]), y[batch])
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                step += 1
            bar.advance()
    seconds = time.perf_counter() - start
    logits = predict_logits(model, x)
    return TrainLog(
        seconds=seconds,
        epochs=spec.epochs,
        train_loss=float(F.cross_entropy(logits, y)),
        train_accuracy=float((logits.argmax(1) == y).float().mean()),
    )


@torch.no_grad()
def predict_logits(model: nn.Module, x: torch.Tensor, batch_size: int = 1024) -> torch.Tensor:
    """Logits in eval mode; restores the model's previous train/eval mode."""
    return _batched(model, model, x, batch_size)


@torch.no_grad()
def predict_features(model: Classifier, x: torch.Tensor, batch_size: int = 1024) -> torch.Tensor:
    """Penultimate features (``model.features``) in eval mode."""
    return _batched(model, model.features, x, batch_size)


def _batched(model: nn.Module, fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, batch_size: int) -> torch.Tensor:
    was_training = model.training
    model.eval()
    try:
        if len(x) == 0:
            return fn(x[:1])[:0]
        return torch.cat([fn(x[i : i + batch_size]) for i in range(0, len(x), batch_size)])
    finally:
        model.train(was_training)


def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    if len(y) == 0:
        raise ValueError("accuracy of an empty set is undefined")
    return float((predict_logits(model, x).argmax(1) == y).float().mean())
