"""Fisher forgetting (Golatkar, Achille, Soatto, "Eternal Sunshine of the Spotless Net", CVPR 2020).

Add Gaussian noise shaped by the inverse diagonal Fisher of the retain loss:
``theta_u = theta0 + xi``, ``xi ~ N(0, diag(min(alpha / F_r, max_variance)))``.
Directions the retain set pins down (large Fisher) get little noise; those it
does not constrain (where forget-specific information can live) get a lot.

``F_r`` is computed per example, exactly, with ``torch.func``:
``fisher="true"`` uses the model's Fisher ``E_x sum_c p(c|x) (grad log p(c|x))^2``
(the expectation over the model's predicted labels, as in the paper);
``fisher="empirical"`` uses the observed labels, ``E_x (grad l(x, y))^2``.
Re-implementations (``OPTML-Group/Unlearn-Saliency`` ``fisher.py``,
``selective-synaptic-dampening``) use per-batch squared gradients, clamp the
variance at 1e3 before scaling by alpha, average it over each weight row and
multiply it by 10 for biases and the head; those heuristics are not reproduced,
only the single clamp ``max_variance``.

Cost: ``fisher="true"`` holds a (batch_size, classes, parameters) Jacobian
per chunk; lower ``batch_size`` for large networks.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from unlearnkit.methods.base import UnlearningMethod, UnlearnTask
from unlearnkit.methods.flat_loss import FlatLoss, index_chunks, parameter_names
from unlearnkit.params import Interval, Options

# Keeps alpha / F finite where the Fisher is exactly zero (e.g. dead ReLUs);
# such parameters then receive the clamped maximal variance.
FISHER_FLOOR = 1e-12


def diagonal_fisher(loss: FlatLoss, x: torch.Tensor, y: torch.Tensor, kind: str, batch_size: int) -> torch.Tensor:
    """Mean over examples of the diagonal Fisher ("true": model labels; "empirical": observed labels)."""
    total = torch.zeros_like(loss.theta0)
    for part in index_chunks(len(y), batch_size):
        if kind == "true":
            probs, jac = loss.per_example_log_prob_jacobians(loss.theta0, x[part])
            total += torch.einsum("bc,bcp->p", probs, jac.pow(2)).detach()
        else:
            total += loss.per_example_grads(loss.theta0, x[part], y[part]).pow(2).sum(0).detach()
    return total / len(y)


class FisherForgetting(UnlearningMethod):
    """Add noise with variance ``min(alpha / F_r, max_variance)`` per parameter (no training).

    One noise scale trades forgetting against utility abruptly: search
    ``alpha`` and ``max_variance`` on log grids. On memorised small networks
    the retain Fisher is tiny almost everywhere, so ``max_variance`` (not
    ``alpha``) sets the noise level for most parameters: 0.01 barely changes
    a small CNN on digits, 0.1 damages it; the tiny test CNN needs 0.1.
    """

    description = "Fisher forgetting: Gaussian noise shaped by the inverse retain Fisher"
    parameter_constraints = {
        "alpha": Interval(float, 0.0, None, "neither"),
        "max_variance": Interval(float, 0.0, None, "neither"),
        "fisher": Options(("true", "empirical")),
        "batch_size": Interval(int, 1, None),
    }
    search_space = {"alpha": [1e-8, 1e-7, 1e-6, 1e-5, 1e-4], "max_variance": [1e-3, 3e-3, 1e-2, 3e-2, 1e-1]}

    def __init__(
        self, *, alpha: float = 1e-6, max_variance: float = 1e-2, fisher: str = "true", batch_size: int = 32
    ) -> None:
        self.alpha = alpha
        self.max_variance = max_variance
        self.fisher = fisher
        self.batch_size = batch_size

    def _unlearn(self, model: nn.Module, task: UnlearnTask) -> tuple[nn.Module, dict[str, Any]]:
        model.eval()
        loss = FlatLoss(model, parameter_names(model, None))
        x, y = task.retain
        fisher = diagonal_fisher(loss, x, y, self.fisher, self.batch_size)
        variance = (self.alpha / fisher.clamp_min(FISHER_FLOOR)).clamp(max=self.max_variance)
        noise = torch.randn(loss.size, generator=task.generator) * variance.sqrt()
        loss.write(loss.theta0 + noise)
        return model, {
            "mean_noise_std": float(variance.sqrt().mean()),
            "fraction_at_max_variance": float((variance >= self.max_variance).float().mean()),
            "noise_norm": float(noise.norm()),
        }
