"""Held-out matching: make the forget set look unseen with a low-rank update confined to its own feature span.

Our method (no published source; issue 16's quality-time frontier). Random
forgetting is judged against retraining, and a retrained model treats the
forget samples like unseen ones: on fmnist_random_10k it classifies them
with about test accuracy (0.88) and its confidence attack calls about as many
of them non-members as test samples (MIA-efficacy 0.18). The aim is
therefore to make the forget set's outputs *look held out*, not wrong:

1. **Targets** (:mod:`unlearnkit.methods.heldout_targets`): each forget sample
   gets the output distribution an unseen sample of its class and difficulty
   would get, read off the original's outputs on the validation set
   (per-class confidence quantiles, assigned by the original's margin rank).
2. **Where to change the model**: every body module before the body's last
   ``nn.Linear`` (the penultimate layer) is frozen and run once, without
   gradients, on the forget set and on a sample of the retain set
   (``retain_fraction``); that layer's weight gets a low-rank update
   ``W + A B`` in which the rows of ``B`` are an orthonormal basis of the
   layer's inputs from the forget samples that must move (target confidence
   below ``move_below``). The change to the model is zero for every input
   orthogonal to those samples' features, so retain and unseen samples are
   only affected through their overlap with them. The head and all other
   parameters stay as they were.
3. **Fit** ``A`` (initialised at 0, so training starts from the original)
   with Adam and a cosine-decayed rate: on forget samples, cross-entropy to
   the soft targets plus ``log_odds_weight`` x the squared error between the
   true-class log-odds and the target's (the soft-target loss alone fits
   confidences between 0.5 and 0.95 loosely, and those decide the
   confidence attack); on retain samples, cross-entropy to their labels.
   Each mini-batch mixes both sets.

Only the low-rank factor is trained and every frozen activation is computed
once, so an epoch costs a few matrix products on cached activations: on
fmnist_random_10k (small CNN, 9,000 retain samples) the whole method takes a
few percent of retraining's time, most of it the one frozen forward pass.

Designed for forgetting a random subset (the forget set is a sample of the
training distribution, so validation data shows how retraining treats it).
A forget class with no sample left in the retain or validation set gets
target confidence 0 (a model that never saw the class); identities or
classes that keep retain samples but have none in validation are matched to
the whole validation set, which is only a proxy.

Requirements: a validation set (the held-out reference) and a body with an
``nn.Linear`` reachable through nested ``nn.Sequential`` containers (the
small CNN and the MLP; not the ResNet, whose body ends in pooling).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any, cast

import torch
import torch.nn.functional as F
from torch import nn

from unlearnkit.errors import InvalidParameterError
from unlearnkit.methods.base import UnlearningMethod, UnlearnTask
from unlearnkit.methods.heldout_targets import heldout_targets
from unlearnkit.methods.optim import optimise
from unlearnkit.models.base import Classifier
from unlearnkit.params import Interval

# Target confidences are clipped to [_CLIP, 1 - _CLIP] before taking log-odds,
# so a target of exactly 0 or 1 gives a finite squared error.
_CLIP = 1e-4
# Singular values below this fraction of the largest do not extend the span (numerical rank).
_RANK_TOLERANCE = 1e-6
# Frozen forward passes run in chunks of this many samples (faster than 1,024 on a CPU here).
_CHUNK = 256


def sequential_leaves(module: nn.Module) -> list[nn.Module]:
    """The modules of ``module`` in execution order, opening nested ``nn.Sequential`` containers."""
    if isinstance(module, nn.Sequential):
        return [leaf for child in module for leaf in sequential_leaves(child)]
    return [module]


def split_at_last_linear(body: nn.Module) -> tuple[nn.Sequential, nn.Linear, nn.Sequential]:
    """(modules before, the last ``nn.Linear``, modules after) of a body made of nested ``nn.Sequential``."""
    leaves = sequential_leaves(body)
    positions = [i for i, leaf in enumerate(leaves) if isinstance(leaf, nn.Linear)]
    if not positions:
        raise InvalidParameterError(
            "heldout_match updates the body's last nn.Linear layer, but the model's body has none reachable "
            f"through nn.Sequential containers (its modules: {[type(leaf).__name__ for leaf in leaves]})"
        )
    at = positions[-1]
    return nn.Sequential(*leaves[:at]), cast(nn.Linear, leaves[at]), nn.Sequential(*leaves[at + 1 :])


@torch.no_grad()
def frozen_inputs(stem: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """``stem(x)`` flattened to (n, features), computed in chunks without gradients."""
    if len(x) == 0:
        return torch.zeros(0, 0)
    return torch.cat([stem(x[i : i + _CHUNK]).flatten(1) for i in range(0, len(x), _CHUNK)])


def span_basis(rows: torch.Tensor) -> torch.Tensor:
    """An orthonormal basis (as rows) of the span of ``rows``."""
    if len(rows) == 0:
        return torch.zeros(0, rows.shape[1])
    _, singular, right = torch.linalg.svd(rows, full_matrices=False)
    keep = singular > _RANK_TOLERANCE * singular[0]
    basis: torch.Tensor = right[keep]
    return basis


def true_class_log_odds(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """log p(label) - log(1 - p(label)), computed from logits."""
    rows = torch.arange(len(labels))
    others = logits.clone()
    others[rows, labels] = -float("inf")
    return logits[rows, labels] - torch.logsumexp(others, dim=1)


def mixed_batches(n: int, batch_size: int, epochs: int, generator: torch.Generator) -> Iterator[torch.Tensor]:
    """``epochs`` shuffled passes over ``range(n)``."""
    for _ in range(epochs):
        order = torch.randperm(n, generator=generator)
        for start in range(0, n, batch_size):
            yield order[start : start + batch_size]


class HeldoutMatch(UnlearningMethod):
    """Match forget-set outputs to held-out (validation) outputs with a low-rank update in the forget span."""

    description = "held-out matching: forget outputs -> validation-like, via a low-rank update in the forget features' span"
    parameter_constraints = {
        "lr": Interval(float, 0.0, None, "neither"),
        "epochs": Interval(int, 1, 1000),
        "batch_size": Interval(int, 1, None),
        "retain_fraction": Interval(float, 0.0, 1.0, "right"),
        "log_odds_weight": Interval(float, 0.0, None),
        "move_below": Interval(float, 0.0, 1.0, "right"),
    }
    search_space = {
        "lr": [3e-3, 1e-2, 3e-2],
        "epochs": [10, 20, 30],
        "log_odds_weight": [0.0, 0.1, 0.3],
        "move_below": [0.99, 0.999],
    }

    def __init__(
        self,
        *,
        lr: float = 0.01,
        epochs: int = 20,
        batch_size: int = 1024,
        retain_fraction: float = 1.0,
        log_odds_weight: float = 0.1,
        move_below: float = 0.99,
    ) -> None:
        self.lr = lr
        self.epochs = epochs
        self.batch_size = batch_size
        self.retain_fraction = retain_fraction
        self.log_odds_weight = log_odds_weight
        self.move_below = move_below

    def _unlearn(self, model: nn.Module, task: UnlearnTask) -> tuple[nn.Module, dict[str, Any]]:
        if not isinstance(model, Classifier):
            raise InvalidParameterError(f"heldout_match needs a Classifier (body -> head); got {type(model).__name__}")
        stem, layer, after = split_at_last_linear(model.body)
        head = model.head
        # Only the low-rank factor is trained: no gradient is computed for (or left on) the model's parameters.
        trainable = {p: p.requires_grad for p in model.parameters()}
        for p in trainable:
            p.requires_grad_(False)
        model.eval()
        xf, yf = task.forget
        xr, yr = task.retain
        xv, yv = task.validation
        if len(yv) == 0:
            raise InvalidParameterError("heldout_match needs validation samples (split.validation_fraction > 0)")
        n_anchor = len(yr) if self.retain_fraction == 1.0 else max(1, round(self.retain_fraction * len(yr)))
        anchor = torch.randperm(len(yr), generator=task.generator)[:n_anchor]
        h_forget, h_retain = frozen_inputs(stem, xf), frozen_inputs(stem, xr[anchor])
        y_retain = yr[anchor]
        with torch.no_grad():
            pre_forget, pre_retain = layer(h_forget), layer(h_retain)
            forget_logits = head(after(pre_forget))
            validation_logits = head(after(layer(frozen_inputs(stem, xv))))
        targets, confidence = heldout_targets(forget_logits, yf, validation_logits, yv, yr)
        target_log_odds = torch.logit(confidence.clamp(_CLIP, 1.0 - _CLIP))
        moving = confidence < self.move_below
        basis = span_basis(h_forget[moving])
        diagnostics: dict[str, Any] = {
            "moving_forget_samples": int(moving.sum()),
            "span_rank": len(basis),
            "target_forget_accuracy": float((targets.argmax(1) == yf).float().mean()),
        }
        if len(basis) == 0:
            # Every forget sample already looks held out: nothing to change.
            _restore(trainable)
            return model, diagnostics | {"steps": 0}
        # Coordinates of every cached input in the span: the update W + A B acts only through them.
        k_forget, k_retain = h_forget @ basis.T, h_retain @ basis.T
        factor = nn.Parameter(torch.zeros(layer.out_features, len(basis)))
        n_forget = len(yf)

        def outputs(pre: torch.Tensor, coordinates: torch.Tensor) -> torch.Tensor:
            logits: torch.Tensor = head(after(pre + coordinates @ factor.T))
            return logits

        def loss_fn(batch: torch.Tensor) -> torch.Tensor:
            f = batch[batch < n_forget]
            r = batch[batch >= n_forget] - n_forget
            total = torch.zeros(())
            if len(f):
                logits = outputs(pre_forget[f], k_forget[f])
                soft = -(targets[f] * F.log_softmax(logits, dim=1)).sum(dim=1)
                odds = (true_class_log_odds(logits, yf[f]) - target_log_odds[f]).pow(2)
                total = total + (soft + self.log_odds_weight * odds).sum()
            if len(r):
                total = total + F.cross_entropy(outputs(pre_retain[r], k_retain[r]), y_retain[r], reduction="sum")
            return total / len(batch)

        n_pool = n_forget + len(y_retain)
        per_epoch = math.ceil(n_pool / self.batch_size)
        total_steps = self.epochs * per_epoch
        optimizer = torch.optim.Adam([factor], lr=self.lr)
        step = 0

        def cosine_decay() -> None:
            nonlocal step
            step += 1
            for group in optimizer.param_groups:
                group["lr"] = 0.5 * self.lr * (1.0 + math.cos(math.pi * step / total_steps))

        run = optimise(
            task,
            [factor],
            optimizer,
            mixed_batches(n_pool, self.batch_size, self.epochs, task.generator),
            loss_fn,
            total_steps=total_steps,
            description=type(self).__name__,
            after_step=cosine_decay,
        )
        with torch.no_grad():
            layer.weight += factor @ basis
        _restore(trainable)
        return model, diagnostics | run


def _restore(trainable: dict[nn.Parameter, bool]) -> None:
    for p, flag in trainable.items():
        p.requires_grad_(flag)
