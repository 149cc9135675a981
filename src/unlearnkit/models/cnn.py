from __future__ import annotations

from torch import nn

from unlearnkit.data.dataset import DatasetMeta
from unlearnkit.models.base import Classifier, ModelBuilder
from unlearnkit.params import Interval


class SmallCNN(ModelBuilder):
    """Two conv blocks (conv-ReLU-maxpool) -> Linear(hidden) -> ReLU -> head.

    No normalisation layers, so per-example gradients and Hessian-vector
    products (influence, Fisher, SSD) are exact and cheap.
    """

    description = "two-block convolutional network (no batch norm)"
    parameter_constraints = {"channels": Interval(int, 1, 512), "hidden": Interval(int, 1, 4096)}

    def __init__(self, *, channels: int = 16, hidden: int = 128) -> None:
        self.channels = channels
        self.hidden = hidden

    def _build(self, meta: DatasetMeta) -> Classifier:
        c = self.channels
        h, w = meta.height // 4, meta.width // 4
        body = nn.Sequential(
            nn.Sequential(nn.Conv2d(meta.channels, c, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2)),
            nn.Sequential(nn.Conv2d(c, 2 * c, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2)),
            nn.Sequential(nn.Flatten(), nn.Linear(2 * c * h * w, self.hidden), nn.ReLU()),
        )
        return Classifier(body, nn.Linear(self.hidden, meta.n_classes))
