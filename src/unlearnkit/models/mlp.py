from __future__ import annotations

from torch import nn

from unlearnkit.data.dataset import DatasetMeta
from unlearnkit.models.base import Classifier, ModelBuilder
from unlearnkit.params import Interval


class MLP(ModelBuilder):
    """Flatten -> ``depth`` x (Linear(hidden) -> ReLU) -> Linear(classes)."""

    description = "multi-layer perceptron on flattened pixels"
    parameter_constraints = {"hidden": Interval(int, 1, 8192), "depth": Interval(int, 1, 16)}

    def __init__(self, *, hidden: int = 256, depth: int = 2) -> None:
        self.hidden = hidden
        self.depth = depth

    def _build(self, meta: DatasetMeta) -> Classifier:
        layers: list[nn.Module] = [nn.Flatten()]
        width = meta.channels * meta.height * meta.width
        for _ in range(self.depth):
            layers += [nn.Linear(width, self.hidden), nn.ReLU()]
            width = self.hidden
        return Classifier(nn.Sequential(*layers), nn.Linear(width, meta.n_classes))
