"""In-memory classification data: the first stage of the pipeline."""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field

import numpy as np
import torch


@dataclass(frozen=True)
class DatasetMeta:
    """What a model builder needs to know about a dataset.

    For images (N, C, H, W) ``channels``, ``height`` and ``width`` are C, H
    and W. Other inputs (N, *shape) read as one channel, one row and
    ``width`` = the number of values per example, so the flat-input builders
    (``linear``, ``mlp``) apply; ``input_shape`` is the per-example shape.
    """

    name: str
    channels: int
    height: int
    width: int
    n_classes: int
    n_samples: int
    group_name: str
    input_shape: tuple[int, ...] = ()


@dataclass(frozen=True, eq=False)
class ClassificationData:
    """Inputs, labels and groups, held as tensors.

    ``x`` is float32 (N, ...): images (N, C, H, W) for the built-in datasets,
    any per-example shape for a model of your own; already normalised. Or
    int64 (N, L): token ids of text (0 = padding), for text classifiers
    (kind ``text_classification``); methods that perturb inputs do not
    declare that kind. ``y`` int64 (N,);
    ``groups`` int64 (N,) names the unit a person may ask to be forgotten
    (an identity for faces; the class itself when there is no finer unit).
    ``test_mask`` marks a predefined test set (e.g. Fashion-MNIST's 10k), or
    is None when the split carves one out.
    """

    name: str
    x: torch.Tensor
    y: torch.Tensor
    groups: torch.Tensor
    n_classes: int
    group_name: str = "class"
    test_mask: np.ndarray | None = None
    fingerprint: str = field(init=False)

    def __post_init__(self) -> None:
        n = self.x.shape[0]
        if self.x.ndim < 2 or self.x.dtype not in (torch.float32, torch.int64):
            raise ValueError(
                f"{self.name}: x must be float32 (N, ...) or int64 token ids (N, L), with at least one value per example; "
                f"got {self.x.dtype} {tuple(self.x.shape)}"
            )
        if self.y.shape != (n,) or self.groups.shape != (n,):
            raise ValueError(f"{self.name}: y and groups must have shape ({n},)")
        if self.y.dtype != torch.int64 or self.groups.dtype != torch.int64:
            raise ValueError(f"{self.name}: y and groups must be int64")
        if n and (int(self.y.min()) < 0 or int(self.y.max()) >= self.n_classes):
            raise ValueError(f"{self.name}: labels must lie in [0, {self.n_classes})")
        if self.test_mask is not None and self.test_mask.shape != (n,):
            raise ValueError(f"{self.name}: test_mask must have shape ({n},)")
        digest = hashlib.sha256()
        for array in (self.x.numpy(), self.y.numpy(), self.groups.numpy()):
            digest.update(np.ascontiguousarray(array).tobytes())
        if self.test_mask is not None:
            digest.update(self.test_mask.tobytes())
        object.__setattr__(self, "fingerprint", digest.hexdigest()[:16])

    def __len__(self) -> int:
        return int(self.x.shape[0])

    @property
    def meta(self) -> DatasetMeta:
        shape = tuple(int(d) for d in self.x.shape[1:])
        c, h, w = shape if len(shape) == 3 else (1, 1, math.prod(shape))
        return DatasetMeta(self.name, c, h, w, self.n_classes, len(self), self.group_name, shape)


def standardise(images: np.ndarray) -> torch.Tensor:
    """uint8/float images (N, C, H, W) -> float32 with zero mean and unit variance overall.

    The mean and (sample) standard deviation are computed by NumPy in float64, whose result does not
    depend on how many threads PyTorch uses (PyTorch's float32 reductions split the sum by thread):
    every process of a sweep (a Ray worker runs one thread, the driver more) must prepare the same
    bytes, or the data's fingerprint, and with it every cached model, would differ between them.
    """
    values = np.asarray(images, dtype=np.float64)
    mean, std = float(values.mean()), float(values.std(ddof=1))
    return (torch.as_tensor(images, dtype=torch.float32) - mean) / max(std, 1e-8)
