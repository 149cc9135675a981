"""A bag-of-embeddings text classifier (fastText-like) with the toolkit's Classifier shape."""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import nn

from unlearnkit.models.base import Classifier, reset_parameters
from unlearnkit.params import Configurable, Interval


class MeanEmbedding(nn.Module):
    """Token ids (N, L), 0 = padding -> the mean embedding of the non-padding tokens (N, dim)."""

    def __init__(self, vocab_size: int, dim: int) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, dim, padding_idx=0)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        mask = (ids != 0).unsqueeze(-1).to(self.embedding.weight.dtype)
        summed: torch.Tensor = (self.embedding(ids) * mask).sum(1)
        return summed / mask.sum(1).clamp_min(1.0)


class BagOfEmbeddings(Configurable):
    """Mean of token embeddings (``dim``), an optional ReLU layer (``hidden``; 0 = none), then a linear head.

    ``features`` (the penultimate layer) is the pooled (or hidden) vector,
    so the image methods that read ``Classifier.features``/``head`` apply.
    Embeddings start as N(0, 0.1^2) drawn from the generator, the padding row at 0.
    """

    description: ClassVar[str] = "bag-of-embeddings text classifier over hashed word n-grams"
    parameter_constraints = {"dim": Interval(int, 1, 4096), "hidden": Interval(int, 0, 8192)}

    def __init__(self, *, dim: int = 32, hidden: int = 0) -> None:
        self.dim = dim
        self.hidden = hidden

    def build(self, vocab_size: int, n_classes: int, generator: torch.Generator) -> Classifier:
        self.validate_params()
        pooled = MeanEmbedding(vocab_size, self.dim)
        layers: list[nn.Module] = [pooled]
        width = self.dim
        if self.hidden:
            layers += [nn.Linear(self.dim, self.hidden), nn.ReLU()]
            width = self.hidden
        model = Classifier(nn.Sequential(*layers), nn.Linear(width, n_classes))
        reset_parameters(model, generator)
        with torch.no_grad():
            nn.init.normal_(pooled.embedding.weight, 0.0, 0.1, generator=generator)
            pooled.embedding.weight[0].zero_()
        return model
