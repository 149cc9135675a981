"""Registry of model builders."""

from __future__ import annotations

from unlearnkit.models.base import ModelBuilder
from unlearnkit.models.cnn import SmallCNN
from unlearnkit.models.linear import Linear
from unlearnkit.models.mlp import MLP
from unlearnkit.models.resnet import ResNet
from unlearnkit.registry import Registry

MODELS: Registry[type[ModelBuilder]] = Registry("model", {"linear": Linear, "mlp": MLP, "cnn": SmallCNN, "resnet": ResNet})
