"""Explicit matrices from operators, for small problems and tests."""

from __future__ import annotations

from collections.abc import Callable

import torch


@torch.no_grad()
def dense_matrix(operator: Callable[[torch.Tensor], torch.Tensor], size: int, dtype: torch.dtype) -> torch.Tensor:
    """The (size, size) matrix of a linear operator, column by column (``size`` products)."""
    return torch.stack([operator(column) for column in torch.eye(size, dtype=dtype)], dim=1)


@torch.no_grad()
def pseudo_inverse_solve(
    operator: Callable[[torch.Tensor], torch.Tensor], b: torch.Tensor, rtol: float = 1e-6
) -> torch.Tensor:
    """x = A^+ b with the explicit, symmetrised matrix of ``operator`` (in float64).

    A pseudo-inverse rather than a solve: an undamped curvature may be
    singular (MF's loss is invariant under rotations of the embeddings), and
    b has no component along those directions.
    """
    matrix = dense_matrix(operator, b.numel(), b.dtype).double()
    symmetric = 0.5 * (matrix + matrix.T)
    inverse: torch.Tensor = torch.linalg.pinv(symmetric, hermitian=True, rtol=rtol)
    return (inverse @ b.double()).to(b.dtype)
