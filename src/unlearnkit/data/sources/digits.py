from __future__ import annotations

import numpy as np
import torch
from sklearn.datasets import load_digits

from unlearnkit.data.dataset import ClassificationData, standardise
from unlearnkit.data.sources.base import DatasetSource


class Digits(DatasetSource):
    """scikit-learn's bundled 8x8 digits: 1,797 images, 10 classes."""

    description = "scikit-learn bundled 8x8 digits (1,797 images, 10 classes)"

    def load(self) -> ClassificationData:
        bunch = load_digits()
        images = bunch.images.astype(np.float32)[:, None, :, :]
        y = torch.as_tensor(bunch.target, dtype=torch.int64)
        return ClassificationData("digits", standardise(images), y, y.clone(), n_classes=10)
