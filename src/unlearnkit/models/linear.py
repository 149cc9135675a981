from __future__ import annotations

from torch import nn

from unlearnkit.data.dataset import DatasetMeta
from unlearnkit.models.base import Classifier, ModelBuilder


class Linear(ModelBuilder):
    """Multinomial logistic regression: Flatten -> Linear(classes).

    With L2 regularisation (the recipe's weight decay) its training objective
    is strictly convex, so exact leave-out solutions exist and one Newton step
    from the optimum is nearly exact; influence-style methods are tested on it.
    The penultimate "features" are the raw flattened pixels.
    """

    description = "multinomial logistic regression on flattened pixels (convex)"
    parameter_constraints = {}

    def __init__(self) -> None:
        pass

    def _build(self, meta: DatasetMeta) -> Classifier:
        width = meta.channels * meta.height * meta.width
        return Classifier(nn.Sequential(nn.Flatten()), nn.Linear(width, meta.n_classes))
