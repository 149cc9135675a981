from __future__ import annotations

import gzip
import os

import numpy as np
import torch

from unlearnkit.data.dataset import ClassificationData, standardise
from unlearnkit.data.sources.base import DatasetSource, require_file
from unlearnkit.params import Text

DEFAULT_DIR = "/usr/share/datasets/fashion-mnist"
_HINT = "apt-get install -y dataset-fashion-mnist (Debian package; run apt-get update first)"


def _idx(path: str, offset: int) -> np.ndarray:
    with gzip.open(require_file(path, _HINT), "rb") as handle:
        return np.frombuffer(handle.read(), np.uint8, offset=offset)


class FashionMnist(DatasetSource):
    """Fashion-MNIST from the Debian package dataset-fashion-mnist (60k train + 10k test)."""

    description = "Fashion-MNIST IDX files of Debian's dataset-fashion-mnist (70k, 28x28, 10 classes)"
    parameter_constraints = {"directory": Text()}

    def __init__(self, *, directory: str = DEFAULT_DIR) -> None:
        self.directory = directory

    def load(self) -> ClassificationData:
        parts = []
        for prefix in ("train", "t10k"):
            images = _idx(os.path.join(self.directory, f"{prefix}-images-idx3-ubyte.gz"), 16).reshape(-1, 1, 28, 28)
            labels = _idx(os.path.join(self.directory, f"{prefix}-labels-idx1-ubyte.gz"), 8)
            parts.append((images, labels))
        (x_tr, y_tr), (x_te, y_te) = parts
        y = torch.as_tensor(np.concatenate([y_tr, y_te]).astype(np.int64))
        test_mask = np.r_[np.zeros(len(y_tr), bool), np.ones(len(y_te), bool)]
        x = standardise(np.concatenate([x_tr, x_te]).astype(np.float32))
        return ClassificationData("fashion_mnist", x, y, y.clone(), n_classes=10, test_mask=test_mask)
