"""Cross-entropy as a function of a flat parameter vector, via ``torch.func``.

Curvature-based methods (SSD, Fisher forgetting, influence) need gradients,
per-example gradients and Hessian-vector products of the loss with respect to
all or some of a model's parameters. Writing the loss as ``f(theta_flat)`` with
``torch.func.functional_call`` keeps the model itself untouched (no parameter
surgery, no autograd state left behind) and lets solvers work on plain vectors.
The model is evaluated in eval mode so batch-norm uses its running statistics
and every quantity is a sum of per-example terms.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from functools import partial

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, grad, jvp, vmap

from unlearnkit.errors import InvalidParameterError
from unlearnkit.methods.common import classifier_blocks


def parameter_names(model: nn.Module, last_blocks: int | None) -> list[str]:
    """Names of every parameter (``None``) or of those in the last ``last_blocks`` of ``model.blocks()``."""
    if last_blocks is None:
        return [name for name, _ in model.named_parameters()]
    blocks = classifier_blocks(model, "last_blocks")
    if last_blocks > len(blocks):
        raise InvalidParameterError(f"the 'last_blocks' parameter ({last_blocks}) exceeds the model's {len(blocks)} blocks")
    chosen = {id(p) for block in blocks[-last_blocks:] for p in block.parameters()}
    return [name for name, p in model.named_parameters() if id(p) in chosen]


def index_chunks(n: int, size: int) -> Iterator[slice]:
    for start in range(0, n, size):
        yield slice(start, min(start + size, n))


class FlatLoss:
    """Per-example cross-entropy of ``model`` as a function of the flat vector of ``names``.

    Parameters not in ``names`` and all buffers are held fixed at their current
    values. ``theta0`` is a detached copy of the chosen parameters.
    """

    def __init__(self, model: nn.Module, names: list[str]) -> None:
        params = dict(model.named_parameters())
        missing = [n for n in names if n not in params]
        if missing or not names:
            raise ValueError(f"unknown or empty parameter selection: {missing or names}")
        self.model = model
        self.names = list(names)
        self.shapes = [params[n].shape for n in self.names]
        self.sizes = [math.prod(s) for s in self.shapes]
        self.fixed = {n: p.detach() for n, p in params.items() if n not in set(self.names)}
        self.fixed.update({n: b.detach() for n, b in model.named_buffers()})
        self.theta0 = torch.cat([params[n].detach().reshape(-1) for n in self.names]).clone()

    @property
    def size(self) -> int:
        return int(self.theta0.numel())

    def unflatten(self, theta: torch.Tensor) -> dict[str, torch.Tensor]:
        pieces = torch.split(theta, self.sizes)
        return {n: piece.view(shape) for n, piece, shape in zip(self.names, pieces, self.shapes, strict=True)}

    def logits(self, theta: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        logits: torch.Tensor = functional_call(self.model, {**self.fixed, **self.unflatten(theta)}, (x,))
        return logits

    def loss_sum(self, theta: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(self.logits(theta, x), y, reduction="sum")

    def grad_sum(self, theta: torch.Tensor, x: torch.Tensor, y: torch.Tensor, batch_size: int) -> torch.Tensor:
        """sum_i grad l(x_i, y_i; theta), computed in chunks of ``batch_size``."""
        total = torch.zeros_like(theta)
        for part in index_chunks(len(y), batch_size):
            total += grad(self.loss_sum)(theta, x[part], y[part])
        return total

    def hvp_sum(self, theta: torch.Tensor, v: torch.Tensor, x: torch.Tensor, y: torch.Tensor, batch_size: int) -> torch.Tensor:
        """(sum_i Hessian of l(x_i, y_i; theta)) @ v by forward-over-reverse differentiation."""
        total = torch.zeros_like(theta)
        for part in index_chunks(len(y), batch_size):
            batch_gradient = partial(grad(self.loss_sum), x=x[part], y=y[part])
            # jvp returns (value, tangent); torch annotates it loosely, so index rather than unpack.
            total += jvp(batch_gradient, (theta,), (v,))[1]
        return total

    def per_example_grads(self, theta: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """(len(y), size) matrix of per-example loss gradients."""

        def single(t: torch.Tensor, xi: torch.Tensor, yi: torch.Tensor) -> torch.Tensor:
            return self.loss_sum(t, xi.unsqueeze(0), yi.unsqueeze(0))

        grads: torch.Tensor = vmap(grad(single), in_dims=(None, 0, 0))(theta, x, y)
        return grads

    def per_example_log_prob_jacobians(self, theta: torch.Tensor, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Probabilities (B, C) and Jacobians of log-probabilities (B, C, size), one row per class."""

        def log_probs(t: torch.Tensor, xi: torch.Tensor) -> torch.Tensor:
            return torch.log_softmax(self.logits(t, xi.unsqueeze(0))[0], dim=-1)

        jac = vmap(torch.func.jacrev(log_probs), in_dims=(None, 0))(theta, x)
        with torch.no_grad():
            probs = torch.softmax(self.logits(theta, x), dim=-1)
        return probs, jac

    @torch.no_grad()
    def write(self, theta: torch.Tensor) -> None:
        """Copy ``theta`` into the model's chosen parameters (in place)."""
        params = dict(self.model.named_parameters())
        for name, value in self.unflatten(theta).items():
            params[name].copy_(value)
