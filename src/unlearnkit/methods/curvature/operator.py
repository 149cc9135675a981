"""The damped curvature operator: ``v -> (A + damping I) v`` over a flat parameter vector."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

Product = Callable[[torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class DampedOperator:
    """``(A + damping I)`` for a symmetric ``A`` given only through its product ``v -> A v``.

    ``product`` is a Hessian-, Gauss-Newton- or Fisher-vector product (a
    closure over the model and data). Products run under ``torch.no_grad``:
    a closure that needs autograd uses ``torch.func`` transforms, which
    ignore the outer mode, so no graph survives one call.
    """

    product: Product
    damping: float

    def __post_init__(self) -> None:
        if not self.damping >= 0.0:  # also rejects NaN
            raise ValueError(f"damping must be >= 0; got {self.damping!r}")

    @torch.no_grad()
    def __call__(self, v: torch.Tensor) -> torch.Tensor:
        return self.product(v).detach() + self.damping * v
