"""Fisher forgetting (Golatkar, Achille, Soatto, "Eternal Sunshine of the Spotless Net", CVPR 2020).

Add Gaussian noise shaped by the inverse diagonal Fisher of the retain loss:
``theta_u = mu + xi``, ``xi ~ N(0, diag(var))``. Directions the retain set
pins down (large Fisher) get little noise; those it does not constrain (where
forget-specific information can live) get a lot.

As in the official notebook (``AdityaGolatkar/SelectiveForgetting``
``Forgetting.ipynb``, functions ``hessian`` and ``get_mean_var``; read for
facts, verified in code):

* ``F`` is the diagonal of the model's Fisher on the retain set, per example,
  ``E_x sum_c p(c|x) (grad log p(c|x))^2`` (one backward pass per class and
  example in the notebook).
* ``var = alpha * min(1 / (F + 1e-8), 1e3)`` with the clamp at 1e2 for the
  classifier head; then, with ``layer_rules=True``: averaged over each row
  of a weight matrix / filter (``var.mean(dim=1)``) and multiplied by 10 for
  the head and for one-dimensional parameters (biases, batch norm).
  ``alpha`` = 1e-6 is the notebook's value. Tying the clamp to ``alpha``
  bounds the noise: at alpha = 1e-6, at most std ``sqrt(1e-3)`` ~ 0.03 on a
  body weight and 0.1 on a bias.
* Class forgetting (``remove_classes=True``): the head rows of every class
  no retain sample has are set to mean 0 (variance 1e-4, times 10) instead of
  being perturbed, so the class logit sits near 0 and the model mostly
  stops predicting the class, instead of having its whole network noised
  until it does (the earlier implementation here left 21 % retain accuracy
  on class forgetting). It is not exact removal: samples whose other logits
  are all negative still get the class (about 30 % of a removed class on the
  tiny test task; none on person_orl's tuning seed).

Differences, on purpose, to bound the time (the notebook's estimate costs one
backward pass per class for every retain sample, 2-8x retraining's time here):

* ``fisher_samples`` examples of the retain set (drawn from ``task.generator``)
  estimate ``F`` (derived default: at most 1,000; an unbiased estimate of the
  mean);
* ``fisher="sampled"`` (default) draws one label per example from
  ``p(c|x)`` and uses ``(grad log p(c|x))^2``: an unbiased Monte-Carlo
  estimate of the same Fisher for one backward pass instead of one per class.
  ``fisher="true"`` computes the exact expectation (the notebook's estimator);
  ``fisher="empirical"`` uses the observed labels.

``max_variance`` (explicit) replaces the alpha-tied clamp and the layer rules
by a single clamp ``min(alpha / F, max_variance)``: with ``fisher="true"``,
``fisher_samples`` >= the retain size and ``remove_classes=False`` this is the
earlier behaviour of this method, kept so that stored recipes reproduce.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from unlearnkit.errors import InvalidParameterError
from unlearnkit.methods.base import UnlearningMethod, UnlearnTask
from unlearnkit.methods.defaults import removed_classes
from unlearnkit.methods.flat_loss import FlatLoss, index_chunks, parameter_names
from unlearnkit.models.base import Classifier
from unlearnkit.params import Boolean, Interval, NoneOr, Options

# The notebook's ``1 / (F + 1e-8)``: keeps the inverse finite where the Fisher is exactly zero.
FISHER_EPSILON = 1e-8
# The notebook's clamps of 1 / F (before alpha): body parameters, and the classifier head.
MAX_INVERSE_FISHER = 1e3
MAX_INVERSE_FISHER_HEAD = 1e2
# The notebook multiplies the variance of the head and of 1-D parameters by this.
LAYER_FACTOR = 10.0
# Variance (before LAYER_FACTOR) of a removed class's head row, whose mean is set to 0.
REMOVED_CLASS_VARIANCE = 1e-4
# The derived number of retain examples the Fisher is estimated on.
DEFAULT_FISHER_SAMPLES = 1000


def diagonal_fisher(
    loss: FlatLoss, x: torch.Tensor, y: torch.Tensor, kind: str, batch_size: int, generator: torch.Generator
) -> torch.Tensor:
    """Mean over examples of the diagonal Fisher ("true": exact expectation over the model's labels;
    "sampled": one label drawn from the model per example; "empirical": the observed labels)."""
    total = torch.zeros_like(loss.theta0)
    for part in index_chunks(len(y), batch_size):
        if kind == "true":
            probs, jac = loss.per_example_log_prob_jacobians(loss.theta0, x[part])
            total += torch.einsum("bc,bcp->p", probs, jac.pow(2)).detach()
            continue
        labels = y[part]
        if kind == "sampled":
            with torch.no_grad():
                probs = torch.softmax(loss.logits(loss.theta0, x[part]), dim=-1)
            labels = torch.multinomial(probs, 1, generator=generator).squeeze(1)
        total += loss.per_example_grads(loss.theta0, x[part], labels).pow(2).sum(0).detach()
    return total / len(y)


def head_parameter_names(model: nn.Module) -> set[str]:
    """Names of the classifier head's parameters (``Classifier.head``)."""
    if not isinstance(model, Classifier):
        raise InvalidParameterError(
            f"Fisher forgetting's layer rules and class removal need a Classifier with a .head; got {type(model).__name__} "
            "(set layer_rules=False and remove_classes=False, or give max_variance)"
        )
    return {name for name, _ in model.named_parameters() if name.startswith("head.")}


def notebook_variance(
    loss: FlatLoss, fisher: torch.Tensor, alpha: float, head: set[str], removed: torch.Tensor, layer_rules: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    """(mean, variance) per parameter, following the notebook's ``get_mean_var``."""
    inverse = 1.0 / (fisher + FISHER_EPSILON)
    is_head = torch.cat([torch.full((size,), name in head) for name, size in zip(loss.names, loss.sizes, strict=True)])
    variance = alpha * torch.where(is_head, inverse.clamp(max=MAX_INVERSE_FISHER_HEAD), inverse.clamp(max=MAX_INVERSE_FISHER))
    if layer_rules:
        pieces = loss.unflatten(variance)
        variance = torch.cat(
            [(v.mean(dim=1, keepdim=True).expand_as(v) if v.ndim > 1 else v).reshape(-1) for v in pieces.values()]
        )
    mean, variance = remove_head_rows(loss, loss.theta0.clone(), variance, head, removed)
    if layer_rules:
        one_dimensional = torch.cat([torch.full((size,), len(shape) == 1) for shape, size in zip(loss.shapes, loss.sizes, strict=True)])
        variance = torch.where(is_head | one_dimensional, LAYER_FACTOR * variance, variance)
    return mean, variance


def remove_head_rows(
    loss: FlatLoss, mean: torch.Tensor, variance: torch.Tensor, head: set[str], removed: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Set the head rows of the ``removed`` classes to mean 0 and variance :data:`REMOVED_CLASS_VARIANCE`."""
    if not removed.numel():
        return mean, variance
    means, variances = loss.unflatten(mean), loss.unflatten(variance.clone())
    for name in head:
        means[name][removed] = 0.0
        variances[name][removed] = REMOVED_CLASS_VARIANCE
    return torch.cat([means[n].reshape(-1) for n in loss.names]), torch.cat([variances[n].reshape(-1) for n in loss.names])


class FisherForgetting(UnlearningMethod):
    """Add noise with variance ``alpha / F_r`` (clamped and shaped as in the official notebook); no training.

    One noise scale trades forgetting against utility abruptly: search
    ``alpha`` on a log grid. On memorised small networks the retain Fisher is
    tiny almost everywhere, so the clamp (``alpha`` x 1e3) sets the noise
    level for most parameters.

    Derived default (``None``): ``fisher_samples`` = min(retain size, 1000),
    which bounds the time whatever the data set's size.
    """

    description = "Fisher forgetting: Gaussian noise shaped by the inverse retain Fisher; removed classes' head rows zeroed"
    parameter_constraints = {
        "alpha": Interval(float, 0.0, None, "neither"),
        "max_variance": NoneOr(Interval(float, 0.0, None, "neither")),
        "fisher": Options(("sampled", "true", "empirical")),
        "fisher_samples": NoneOr(Interval(int, 1, None)),
        "layer_rules": Boolean(),
        "remove_classes": Boolean(),
        "batch_size": Interval(int, 1, None),
    }
    search_space = {"alpha": [1e-8, 1e-7, 1e-6, 1e-5, 1e-4]}

    fisher_samples: int

    def __init__(
        self,
        *,
        alpha: float = 1e-6,
        max_variance: float | None = None,
        fisher: str = "sampled",
        fisher_samples: int | None = None,
        layer_rules: bool = True,
        remove_classes: bool = True,
        batch_size: int = 8,
    ) -> None:
        self.alpha = alpha
        self.max_variance = max_variance
        self.fisher = fisher
        # None = derived from the task by ``resolve`` (``_unlearn`` reads the resolved copy).
        vars(self).update(fisher_samples=fisher_samples)
        self.layer_rules = layer_rules
        self.remove_classes = remove_classes
        self.batch_size = batch_size

    def derived_params(self, task: UnlearnTask) -> dict[str, Any]:
        return {"fisher_samples": min(int(task.split.retain.size), DEFAULT_FISHER_SAMPLES)}

    def _unlearn(self, model: nn.Module, task: UnlearnTask) -> tuple[nn.Module, dict[str, Any]]:
        model.eval()
        loss = FlatLoss(model, parameter_names(model, None))
        x, y = task.retain
        # The whole retain set when it is small enough (no draw: the generator is left for the noise).
        if self.fisher_samples >= len(y):
            pick = torch.arange(len(y))
        else:
            pick = torch.randperm(len(y), generator=task.generator)[: self.fisher_samples]
        fisher = diagonal_fisher(loss, x[pick], y[pick], self.fisher, self.batch_size, task.generator)
        removed = removed_classes(task) if self.remove_classes else torch.zeros(0, dtype=torch.long)
        head = head_parameter_names(model) if (self.layer_rules and self.max_variance is None) or removed.numel() else set()
        if self.max_variance is None:
            mean, variance = notebook_variance(loss, fisher, self.alpha, head, removed, self.layer_rules)
        else:
            variance = (self.alpha / fisher.clamp_min(FISHER_EPSILON)).clamp(max=self.max_variance)
            mean, variance = remove_head_rows(loss, loss.theta0.clone(), variance, head, removed)
        noise = torch.randn(loss.size, generator=task.generator) * variance.sqrt()
        loss.write(mean + noise)
        return model, {
            "fisher_examples": len(pick),
            "mean_noise_std": float(variance.sqrt().mean()),
            "removed_classes": removed.tolist(),
            "noise_norm": float(noise.norm()),
        }
