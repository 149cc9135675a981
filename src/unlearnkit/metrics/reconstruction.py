"""Data reconstruction by model inversion, scored by SSIM to the target, and a PNG grid of reconstructions.

Model inversion (Fredrikson, Jha, Ristenpart, CCS 2015, "MI-Face" style):
starting from a neutral image x0, gradient steps on the input minimise

    L(x) = A(f(x), c) + tv_weight * TV(x) + l2_weight * mean((x - x0)^2)

so the image grows whatever the model associates with class ``c``. The
attack term A is the cross-entropy of class ``c`` (``objective="cross_entropy"``,
which stops pushing once the class is confidently predicted) or minus its
logit (``objective="logit"``, activation maximisation, which keeps pushing). The
prior is the total variation (smooth images) plus a pull towards x0, and
pixels are clipped to the data's range after every step. The hypothesis
this check tests: if a model kept much of a target (say because many
near-copies of it were trained on), the class's reconstruction resembles
the target, so the SSIM between them (Wang et al. 2004, computed by
torchmetrics) rises. Measured once (Fashion-MNIST, the toolkit's CNN on
3,000 images plus 50 block-masked copies of each of 50 targets, default
settings), the class reconstructions were no closer to the targets than to
other training images of the same classes (mean SSIM 0.125 vs 0.128;
0.104 vs 0.110 after retraining without targets and copies): compare
against such a same-class baseline before reading a difference as memory.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from matplotlib.figure import Figure
from torch import nn
from torchmetrics.functional.image import structural_similarity_index_measure

from unlearnkit.errors import InvalidParameterError
from unlearnkit.params import Configurable, Interval, Options


def total_variation(x: torch.Tensor) -> torch.Tensor:
    """Mean absolute difference between neighbouring pixels, per image: shape (N,)."""
    vertical = (x[..., 1:, :] - x[..., :-1, :]).abs().flatten(1).mean(1)
    horizontal = (x[..., :, 1:] - x[..., :, :-1]).abs().flatten(1).mean(1)
    return vertical + horizontal


@dataclass(frozen=True)
class PixelRange:
    """The data's pixel range (in stored units); reconstructions are clipped to it and SSIM uses it."""

    low: float
    high: float

    @classmethod
    def of(cls, images: torch.Tensor) -> PixelRange:
        return cls(float(images.min()), float(images.max()))


class ModelInversion(Configurable):
    """Reconstructs one image per requested class from a trained classifier.

    Adam on the input (``lr``) for ``steps`` steps; objective and prior in
    the module docstring. The model is read, never changed: its mode is
    restored and gradients are taken with respect to the input only.
    Deterministic: no randomness is drawn.
    """

    parameter_constraints = {
        "objective": Options(("cross_entropy", "logit")),
        "steps": Interval(int, 1, 100_000),
        "lr": Interval(float, 0.0, None, "neither"),
        "tv_weight": Interval(float, 0.0, None),
        "l2_weight": Interval(float, 0.0, None),
    }

    def __init__(
        self, *, objective: str = "cross_entropy", steps: int = 200, lr: float = 0.05, tv_weight: float = 0.05, l2_weight: float = 0.01
    ) -> None:
        self.objective = objective
        self.steps = steps
        self.lr = lr
        self.tv_weight = tv_weight
        self.l2_weight = l2_weight

    def invert(self, model: nn.Module, classes: Sequence[int] | torch.Tensor, start: torch.Tensor, pixel_range: PixelRange) -> torch.Tensor:
        """Reconstructions (len(classes), C, H, W) starting from ``start`` (C, H, W), e.g. the training set's mean image."""
        self.validate_params()
        labels = torch.as_tensor(classes, dtype=torch.long).flatten()
        if start.ndim != 3:
            raise InvalidParameterError(f"start must be one image (C, H, W); got shape {tuple(start.shape)}")
        neutral = start.detach().float().unsqueeze(0).expand(len(labels), *start.shape)
        x = neutral.clone().requires_grad_(True)
        optimizer = torch.optim.Adam([x], lr=self.lr)
        was_training = model.training
        model.eval()
        try:
            for _ in range(self.steps):
                logits = model(x)
                if self.objective == "logit":
                    attack = -logits.gather(1, labels[:, None]).sum()
                else:
                    attack = F.cross_entropy(logits, labels, reduction="sum")
                loss = attack + self.tv_weight * total_variation(x).sum() + self.l2_weight * ((x - neutral) ** 2).flatten(1).mean(1).sum()
                (gradient,) = torch.autograd.grad(loss, x)
                x.grad = gradient
                optimizer.step()
                with torch.no_grad():
                    x.clamp_(pixel_range.low, pixel_range.high)
        finally:
            model.train(was_training)
        return x.detach()


def ssim(images: torch.Tensor, targets: torch.Tensor, pixel_range: PixelRange, kernel_size: int = 11) -> np.ndarray:
    """SSIM of each image with its target, shape (N,), from torchmetrics (Gaussian window, sigma 1.5).

    ``pixel_range`` sets the dynamic range L (and both inputs are clipped to
    it). ``kernel_size`` must be odd and at most the image's height and width.
    """
    if images.shape != targets.shape or images.ndim != 4:
        raise InvalidParameterError(
            f"images and targets must both be (N, C, H, W) of one shape; got {tuple(images.shape)} and {tuple(targets.shape)}"
        )
    if kernel_size % 2 == 0 or kernel_size > min(images.shape[-2:]):
        raise InvalidParameterError(f"kernel_size must be odd and at most {min(images.shape[-2:])} for these images; got {kernel_size}")
    values = structural_similarity_index_measure(
        images.float(), targets.float(), data_range=(pixel_range.low, pixel_range.high), kernel_size=kernel_size, reduction="none"
    )
    if not isinstance(values, torch.Tensor):
        raise TypeError("torchmetrics returned a tuple; ask for SSIM values only")
    return values.detach().numpy().astype(np.float64)


def reconstruction_grid(columns: Mapping[str, torch.Tensor], pixel_range: PixelRange, row_labels: Sequence[str] | None = None) -> Figure:
    """A Figure with one row per target and one column per entry of ``columns`` (e.g. target | original | retrain).

    Every column is (N, C, H, W) with the same N; C is 1 (grey) or 3 (RGB).
    All panels share the scale ``pixel_range`` so brightness is comparable.
    """
    if not columns:
        raise InvalidParameterError("reconstruction_grid needs at least one column")
    sizes = {name: len(images) for name, images in columns.items()}
    n = next(iter(sizes.values()))
    if any(size != n for size in sizes.values()) or n == 0:
        raise InvalidParameterError(f"every column must hold the same positive number of images; got {sizes}")
    if row_labels is not None and len(row_labels) != n:
        raise InvalidParameterError(f"row_labels must have {n} entries; got {len(row_labels)}")
    figure = Figure(figsize=(1.3 * len(columns), 1.3 * n + 0.4))
    axes = figure.subplots(n, len(columns), squeeze=False)
    span = max(pixel_range.high - pixel_range.low, 1e-12)
    for j, (name, images) in enumerate(columns.items()):
        scaled = ((images.detach().float() - pixel_range.low) / span).clamp(0, 1)
        for i in range(n):
            ax = axes[i][j]
            image = scaled[i]
            if image.shape[0] == 1:
                ax.imshow(image[0].numpy(), cmap="gray", vmin=0.0, vmax=1.0)
            else:
                ax.imshow(image.permute(1, 2, 0).numpy())
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_title(name, fontsize=8)
            if j == 0 and row_labels is not None:
                ax.set_ylabel(row_labels[i], fontsize=7)
    figure.tight_layout()
    return figure


def save_reconstruction_grid(
    path: str, columns: Mapping[str, torch.Tensor], pixel_range: PixelRange, row_labels: Sequence[str] | None = None
) -> None:
    """Write :func:`reconstruction_grid` as a PNG file at ``path``."""
    buffer = io.BytesIO()
    reconstruction_grid(columns, pixel_range, row_labels).savefig(buffer, format="png", dpi=110)
    with open(path, "wb") as handle:
        handle.write(buffer.getvalue())
