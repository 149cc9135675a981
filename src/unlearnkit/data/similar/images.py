"""Image constructors: block-masked near-copies and augmented copies of each target."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from unlearnkit.data.dataset import ClassificationData
from unlearnkit.data.similar.base import (
    Construction,
    SimilarConstructor,
    SimilarSet,
    append_images,
)
from unlearnkit.errors import InvalidParameterError
from unlearnkit.params import Interval, Options

FILL_OPTIONS = ("background", "zero")


def fill_values(data: ClassificationData, fill: str) -> torch.Tensor:
    """The value a removed pixel takes, per channel, shape (C, 1, 1).

    ``"background"``: the channel's minimum over the whole dataset. The
    toolkit's image sources standardise pixels, so a black pixel (the
    background of MNIST and Fashion-MNIST) is the minimum, not 0.
    ``"zero"``: 0 in the stored (standardised) units, i.e. the dataset's mean
    grey level, not black.
    """
    channels = data.x.shape[1]
    if fill == "zero":
        return torch.zeros(channels, 1, 1)
    return data.x.transpose(0, 1).reshape(channels, -1).amin(dim=1).view(channels, 1, 1)


def _pairs(targets: np.ndarray, copies: int, n_original: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows of the appended copies and their targets: target-major, ``copies`` per target."""
    target_of = np.repeat(targets, copies).astype(np.int64)
    rows = np.arange(n_original, n_original + target_of.size, dtype=np.int64)
    return rows, target_of


class BlockMask(SimilarConstructor):
    """``copies`` near-copies of each target, each with a fresh random block mask.

    The image is cut into a grid of square blocks of ``block`` x ``block``
    pixels (height and width must be multiples of ``block``); exactly
    ``round(ratio * n_blocks)`` blocks, drawn without replacement by the
    generator for every copy, are set to the fill value (see
    :func:`fill_values`; default: the dataset's background, black). The
    record's score is the fraction of blocks kept, ``1 - masked / n_blocks``.
    """

    name = "block_mask"
    description = "near-copies with a fraction of b x b pixel blocks set to the background (fresh mask per copy)"
    modalities = frozenset({"image"})
    appends = True
    parameter_constraints = {
        "block": Interval(int, 1, None),
        "ratio": Interval(float, 0.0, 1.0, "left"),
        "copies": Interval(int, 0, None),
        "fill": Options(FILL_OPTIONS),
    }

    def __init__(self, *, block: int = 4, ratio: float = 0.25, copies: int = 5, fill: str = "background") -> None:
        self.block = block
        self.ratio = ratio
        self.copies = copies
        self.fill = fill

    def grid(self, height: int, width: int) -> tuple[int, int]:
        if height % self.block or width % self.block:
            raise InvalidParameterError(f"block_mask: the 'block' size {self.block} must divide the image size {height}x{width}")
        return height // self.block, width // self.block

    def masked_blocks(self, height: int, width: int) -> int:
        rows, cols = self.grid(height, width)
        return round(self.ratio * rows * cols)

    def _construct(
        self, data: Any, targets: np.ndarray, pool: np.ndarray, generator: torch.Generator, model: nn.Module | None
    ) -> Construction[Any]:
        _, channels, height, width = data.x.shape
        rows_, cols = self.grid(height, width)
        n_blocks = rows_ * cols
        n_masked = self.masked_blocks(height, width)
        rows, target_of = _pairs(targets, self.copies, len(data))
        images = data.x[torch.as_tensor(target_of)].clone()
        fill = fill_values(data, self.fill)
        for i in range(len(images)):
            mask = torch.zeros(n_blocks, dtype=torch.bool)
            mask[torch.randperm(n_blocks, generator=generator)[:n_masked]] = True
            pixels = mask.view(rows_, cols).repeat_interleave(self.block, 0).repeat_interleave(self.block, 1)
            images[i] = torch.where(pixels, fill.expand(channels, height, width), images[i])
        score = np.full(rows.size, 1.0 - n_masked / n_blocks)
        similar = SimilarSet(self.name, self.get_params(), len(data), targets, rows, target_of, score)
        return Construction(append_images(data, images, target_of), similar)


class Augment(SimilarConstructor):
    """``copies`` augmented copies of each target.

    Per copy, in this order, each drawn from the generator: a random crop
    keeping a side fraction ``s ~ U(crop, 1)`` resized back bilinearly
    (``crop=1`` disables it); a shift by integers ``dy, dx ~ U{-shift..shift}``
    with uncovered pixels set to the fill value (:func:`fill_values`); a
    brightness offset ``~ U(-brightness, brightness)`` added to every pixel;
    Gaussian noise of standard deviation ``noise``. All amounts are in the
    stored, standardised units. The record's score is the cosine similarity
    between the copy's and the target's pixels.
    """

    name = "augment"
    description = "augmented copies (crop, shift, brightness, Gaussian noise)"
    modalities = frozenset({"image"})
    appends = True
    parameter_constraints = {
        "copies": Interval(int, 0, None),
        "shift": Interval(int, 0, None),
        "crop": Interval(float, 0.0, 1.0, "right"),
        "brightness": Interval(float, 0.0, None),
        "noise": Interval(float, 0.0, None),
        "fill": Options(FILL_OPTIONS),
    }

    def __init__(
        self,
        *,
        copies: int = 5,
        shift: int = 2,
        crop: float = 0.9,
        brightness: float = 0.2,
        noise: float = 0.1,
        fill: str = "background",
    ) -> None:
        self.copies = copies
        self.shift = shift
        self.crop = crop
        self.brightness = brightness
        self.noise = noise
        self.fill = fill

    def _augment(self, image: torch.Tensor, fill: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        channels, height, width = image.shape
        if self.crop < 1.0:
            scale = self.crop + (1.0 - self.crop) * float(torch.rand((), generator=generator))
            h, w = max(1, round(height * scale)), max(1, round(width * scale))
            top = int(torch.randint(0, height - h + 1, (), generator=generator))
            left = int(torch.randint(0, width - w + 1, (), generator=generator))
            window = image[:, top : top + h, left : left + w].unsqueeze(0)
            image = F.interpolate(window, size=(height, width), mode="bilinear", align_corners=False)[0]
        if self.shift > 0:
            s = self.shift
            dy, dx = (int(v) for v in torch.randint(-s, s + 1, (2,), generator=generator))
            padded = fill.expand(channels, height + 2 * s, width + 2 * s).clone()
            padded[:, s : s + height, s : s + width] = image
            image = padded[:, s - dy : s - dy + height, s - dx : s - dx + width]
        if self.brightness > 0:
            image = image + self.brightness * (2 * float(torch.rand((), generator=generator)) - 1)
        if self.noise > 0:
            image = image + self.noise * torch.randn(image.shape, generator=generator)
        return image

    def _construct(
        self, data: Any, targets: np.ndarray, pool: np.ndarray, generator: torch.Generator, model: nn.Module | None
    ) -> Construction[Any]:
        rows, target_of = _pairs(targets, self.copies, len(data))
        originals = data.x[torch.as_tensor(target_of)]
        fill = fill_values(data, self.fill)
        images = torch.stack([self._augment(img, fill, generator) for img in originals]) if len(originals) else originals.clone()
        score = F.cosine_similarity(images.flatten(1), originals.flatten(1), dim=1).numpy().astype(np.float64)
        similar = SimilarSet(self.name, self.get_params(), len(data), targets, rows, target_of, score)
        return Construction(append_images(data, images, target_of), similar)
