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

The stronger, per-target attack here is a *completion* attack
(:func:`select_completion`): the attacker holds the target with a fraction
of its pixel blocks hidden, its label, and candidate fills (the true one
among them, as the true secret is among the candidates of canary exposure),
and keeps the completion the model finds most plausible (lowest
cross-entropy for the label). A model that memorised the target (or many
near-copies of it) prefers fills that look like the target. The score is
the SSIM between completion and target averaged over the hidden pixels only
(:func:`masked_ssim`): the visible pixels are the attacker's input, not
evidence of memory. The baseline is the same attack, with the same masks,
on never-trained test images of the same classes. (Filling the hidden
pixels by gradient steps on the cross-entropy, from the background, barely
moved them in a first measurement: with most of the image visible the
label is already predicted and the loss has no gradient left; the "logit"
objective produced adversarial texture for every model alike.)
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


def block_masks(n: int, height: int, width: int, block: int, ratio: float, generator: torch.Generator) -> torch.Tensor:
    """(n, 1, H, W) bool, True = hidden: ``round(ratio * n_blocks)`` of the ``block`` x ``block`` blocks, drawn anew per image."""
    if height % block or width % block:
        raise InvalidParameterError(f"the block size {block} must divide the image size {height}x{width}")
    rows, cols = height // block, width // block
    hidden = round(ratio * rows * cols)
    masks = torch.zeros(n, rows * cols, dtype=torch.bool)
    for i in range(n):
        masks[i, torch.randperm(rows * cols, generator=generator)[:hidden]] = True
    pixels = masks.view(n, rows, cols).repeat_interleave(block, 1).repeat_interleave(block, 2)
    return pixels.unsqueeze(1)


@torch.no_grad()
def select_completion(
    model: nn.Module, images: torch.Tensor, labels: torch.Tensor, masks: torch.Tensor, candidates: torch.Tensor
) -> tuple[torch.Tensor, np.ndarray]:
    """Each image completed with the candidate the model finds most plausible, and the rank of candidate 0.

    ``images`` (N, C, H, W) with labels (N,); ``masks`` (N, 1, H, W), True =
    hidden; ``candidates`` (N, K, C, H, W): images whose pixels may fill the
    hidden part (candidate 0 is the image itself, i.e. the true fill). The
    model scores each completion by its cross-entropy for the label; the
    lowest wins (ties: the first). Rank 1 = the true fill won; ties count
    against it. The model is read in eval mode and left as it was.
    """
    n, k = candidates.shape[:2]
    if candidates.shape[2:] != images.shape[1:] or masks.shape != (n, 1, *images.shape[2:]) or len(images) != n:
        raise InvalidParameterError(
            f"images (N, C, H, W), masks (N, 1, H, W) and candidates (N, K, C, H, W) must agree; got {tuple(images.shape)}, "
            f"{tuple(masks.shape)} and {tuple(candidates.shape)}"
        )
    was_training = model.training
    model.eval()
    try:
        completions = torch.where(masks[:, None], candidates, images[:, None])  # (N, K, C, H, W)
        logits = model(completions.flatten(0, 1))
        losses = F.cross_entropy(logits, labels.repeat_interleave(k), reduction="none").view(n, k)
    finally:
        model.train(was_training)
    chosen = completions[torch.arange(n), losses.argmin(1)]
    ranks = (losses <= losses[:, :1]).sum(1).numpy()
    return chosen, ranks


def masked_ssim(
    images: torch.Tensor, targets: torch.Tensor, masks: torch.Tensor, pixel_range: PixelRange, kernel_size: int = 7
) -> np.ndarray:
    """Per image, the mean of torchmetrics' SSIM map over the pixels where ``masks`` (N, 1, H, W) is True: shape (N,)."""
    if images.shape != targets.shape or images.ndim != 4 or masks.shape != (images.shape[0], 1, *images.shape[2:]):
        raise InvalidParameterError(
            f"images and targets must be (N, C, H, W) of one shape and masks (N, 1, H, W); got {tuple(images.shape)}, "
            f"{tuple(targets.shape)} and {tuple(masks.shape)}"
        )
    if not masks.flatten(1).any(1).all():
        raise InvalidParameterError("every mask must hide at least one pixel")
    result = structural_similarity_index_measure(
        images.float(), targets.float(), data_range=(pixel_range.low, pixel_range.high), kernel_size=kernel_size,
        reduction="none", return_full_image=True,
    )
    if not isinstance(result, tuple):
        raise TypeError("torchmetrics returned no SSIM map; ask for return_full_image=True")
    full = result[1].mean(1, keepdim=True)  # over channels
    weights = masks.float()
    values = (full * weights).flatten(1).sum(1) / weights.flatten(1).sum(1)
    return values.detach().numpy().astype(np.float64)


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
