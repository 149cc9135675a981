"""Registry of model builders."""

from __future__ import annotations

from unlearnkit.models.base import ModelBuilder
from unlearnkit.models.cnn import SmallCNN
from unlearnkit.models.linear import Linear
from unlearnkit.models.mlp import MLP
from unlearnkit.models.recsys.embedding import (
    LightGCN,
    MatrixFactorisation,
    RecommenderBuilder,
)
from unlearnkit.models.resnet import ResNet
from unlearnkit.registry import Registry

MODELS: Registry[type[ModelBuilder]] = Registry("model", {"linear": Linear, "mlp": MLP, "cnn": SmallCNN, "resnet": ResNet})

# Recommendation models (built from an InteractionMeta).
RECOMMENDERS: Registry[type[RecommenderBuilder]] = Registry("recommender", {"mf": MatrixFactorisation, "lightgcn": LightGCN})
