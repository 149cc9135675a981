"""Hard parameter masks: coordinates outside the mask never move.

Masking gradients alone is not enough: weight decay and momentum still move
masked-out weights (the SalUn bug, ``OPTML-Group/Unlearn-Saliency`` issue
#32). :class:`FrozenCoordinates` therefore (1) zeroes the gradients of
frozen coordinates through tensor hooks, (2) after every optimiser step
copies the frozen coordinates back from a snapshot and (3) zeroes the
optimiser's per-coordinate state (momentum, Adam moments) there.
"""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType

import torch
import torch.nn.functional as F
from torch import nn


class FrozenCoordinates:
    """Keeps every coordinate where ``trainable`` is False bit-identical to its value at construction.

    Use as a context manager around the optimisation (the gradient hooks
    live only inside it, so the returned model carries no hooks) and pass
    ``after_step(optimizer)`` to the framework loop.
    """

    def __init__(self, parameters: list[nn.Parameter], trainable: list[torch.Tensor]) -> None:
        if len(parameters) != len(trainable):
            raise ValueError(f"got {len(parameters)} parameters but {len(trainable)} masks")
        for p, m in zip(parameters, trainable, strict=True):
            if m.shape != p.shape or m.dtype != torch.bool:
                raise ValueError(f"a mask must be a bool tensor of the parameter's shape {tuple(p.shape)}; got {m.dtype} {tuple(m.shape)}")
        self.parameters = list(parameters)
        self.frozen = [~m for m in trainable]
        self.snapshot = [p.detach().clone() for p in parameters]
        self._handles: list[torch.utils.hooks.RemovableHandle] = []

    def __enter__(self) -> FrozenCoordinates:
        for p, frozen in zip(self.parameters, self.frozen, strict=True):
            tensor: torch.Tensor = p  # Parameter re-exports Tensor.register_hook, which torch leaves untyped
            self._handles.append(tensor.register_hook(lambda grad, frozen=frozen: grad.masked_fill(frozen, 0.0)))
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()

    @torch.no_grad()
    def restore(self, optimizer: torch.optim.Optimizer) -> None:
        """Undo whatever the last step did to frozen coordinates and clear their optimiser state."""
        for p, frozen, saved in zip(self.parameters, self.frozen, self.snapshot, strict=True):
            p.copy_(torch.where(frozen, saved, p))
            for key, value in optimizer.state.get(p, {}).items():
                # Per-coordinate buffers have the parameter's shape; scalar counters such as Adam's "step" do not.
                if key != "step" and torch.is_tensor(value) and value.shape == p.shape:
                    value.masked_fill_(frozen, 0.0)

    def after_step(self, optimizer: torch.optim.Optimizer) -> Callable[[], None]:
        return lambda: self.restore(optimizer)

    def unchanged(self) -> bool:
        """True when every frozen coordinate still equals its snapshot exactly."""
        return all(
            torch.equal(p.detach()[frozen], saved[frozen])
            for p, frozen, saved in zip(self.parameters, self.frozen, self.snapshot, strict=True)
        )


def saliency_mask(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, fraction: float, *, batch_size: int = 256
) -> list[torch.Tensor]:
    """SalUn's weight saliency: True for the ``fraction`` of weights with the largest |∇ L_GA|.

    L_GA = −mean CE over (x, y) (the gradient-ascent forget loss) at the
    current weights, in eval mode; the ranking is global over every
    parameter that requires grad. Ties at the threshold are broken by
    ``torch.topk`` so exactly ``round(fraction * n)`` (at least 1) are kept.
    """
    if len(y) == 0:
        raise ValueError("the saliency mask needs at least one forget sample")
    params = [p for p in model.parameters() if p.requires_grad]
    was_training = model.training
    model.eval()
    try:
        total = [torch.zeros_like(p) for p in params]
        for start in range(0, len(y), batch_size):
            xb, yb = x[start : start + batch_size], y[start : start + batch_size]
            # Sum of per-batch sums divided by n: the gradient of the mean over the whole set.
            loss = -F.cross_entropy(model(xb), yb, reduction="sum") / len(y)
            for acc, g in zip(total, torch.autograd.grad(loss, params), strict=True):
                acc += g
    finally:
        model.train(was_training)
    saliency = torch.cat([g.abs().flatten() for g in total])
    keep = min(saliency.numel(), max(1, round(fraction * saliency.numel())))
    flat = torch.zeros(saliency.numel(), dtype=torch.bool)
    flat[torch.topk(saliency, keep).indices] = True
    return [m.view_as(p) for m, p in zip(torch.split(flat, [p.numel() for p in params]), params, strict=True)]
