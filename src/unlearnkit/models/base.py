"""The classifier shape every image method relies on: ``body`` -> features -> ``head``."""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from typing import ClassVar

import torch
from torch import nn

from unlearnkit.data.dataset import DatasetMeta
from unlearnkit.params import Configurable


class Classifier(nn.Module):
    """``forward(x) = head(features(x))``.

    ``body`` is an ``nn.Sequential`` of blocks ending in a flat feature vector
    (the penultimate layer used by DLFD, linear probes and SSD); ``head`` is
    the final ``nn.Linear``. ``blocks()`` lists the parameterised stages in
    order, so "the last k layers" (CF-k, EU-k) has one meaning for every model.
    """

    def __init__(self, body: nn.Sequential, head: nn.Linear) -> None:
        super().__init__()
        self.body = body
        self.head = head

    def features(self, x: torch.Tensor) -> torch.Tensor:
        features: torch.Tensor = self.body(x)
        return features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits: torch.Tensor = self.head(self.body(x))
        return logits

    def blocks(self) -> list[nn.Module]:
        stages = [m for m in self.body if any(True for _ in m.parameters())]
        return [*stages, self.head]


# The layers reset_parameters re-initialises; a module with parameters of any other type is not reset.
WEIGHTED_LAYERS = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)
NORM_LAYERS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.GroupNorm, nn.LayerNorm)
RESETTABLE_LAYERS = WEIGHTED_LAYERS + NORM_LAYERS


def reset_parameters(module: nn.Module, generator: torch.Generator) -> None:
    """Re-initialise every layer of :data:`RESETTABLE_LAYERS` from ``generator`` (PyTorch's default scheme).

    ``nn.Module`` constructors draw from the global RNG; redrawing here keeps
    initialisation reproducible without touching global state.
    """
    with torch.no_grad():
        for layer in module.modules():
            if isinstance(layer, WEIGHTED_LAYERS):
                nn.init.kaiming_uniform_(layer.weight, a=math.sqrt(5), generator=generator)
                if layer.bias is not None:
                    fan_in = layer.weight[0].numel()
                    bound = 1.0 / math.sqrt(fan_in) if fan_in > 0 else 0.0
                    nn.init.uniform_(layer.bias, -bound, bound, generator=generator)
            elif isinstance(layer, NORM_LAYERS):
                if getattr(layer, "weight", None) is not None:
                    nn.init.ones_(layer.weight)
                    nn.init.zeros_(layer.bias)
                if isinstance(layer, (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)):
                    layer.reset_running_stats()


class ModelBuilder(Configurable, ABC):
    """Builds a :class:`Classifier` for a dataset from its metadata."""

    description: ClassVar[str]

    @abstractmethod
    def _build(self, meta: DatasetMeta) -> Classifier: ...

    def build(self, meta: DatasetMeta, generator: torch.Generator) -> Classifier:
        self.validate_params()
        model = self._build(meta)
        reset_parameters(model, generator)
        return model
