"""A bag-of-embeddings text classifier (fastText-like) with the toolkit's Classifier shape."""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import nn

from unlearnkit.data.dataset import DatasetMeta
from unlearnkit.data.text.tokenize import HashedWordTokenizer
from unlearnkit.models.base import Classifier, ModelBuilder, reset_parameters
from unlearnkit.params import Interval


class MeanEmbedding(nn.Module):
    """Token ids (N, L), 0 = padding -> the mean embedding of the non-padding tokens (N, dim)."""

    def __init__(self, vocab_size: int, dim: int) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, dim, padding_idx=0)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        mask = (ids != 0).unsqueeze(-1).to(self.embedding.weight.dtype)
        summed: torch.Tensor = (self.embedding(ids) * mask).sum(1)
        return summed / mask.sum(1).clamp_min(1.0)


class BagOfEmbeddings(ModelBuilder):
    """Mean of token embeddings (``dim``), an optional ReLU layer (``hidden``; 0 = none), then a linear head.

    The model reads the ids of its own tokeniser (:meth:`tokenizer`: words
    and word n-grams up to ``ngrams`` hashed into ``buckets`` ids, at most
    ``max_len`` per document), so a ``text_classification`` experiment
    tokenises its documents with the model's settings. ``features`` (the
    penultimate layer) is the pooled (or hidden) vector, so the image
    methods that read ``Classifier.features``/``head`` apply. Linear layers
    start from PyTorch's default scheme, embeddings from N(0, 0.1^2), both
    drawn from the generator, the padding row at 0.
    """

    description: ClassVar[str] = "bag-of-embeddings text classifier over hashed word n-grams"
    parameter_constraints = {
        "dim": Interval(int, 1, 4096),
        "hidden": Interval(int, 0, 8192),
        "buckets": Interval(int, 2, 10_000_000),
        "ngrams": Interval(int, 1, 3),
        "max_len": Interval(int, 1, 100_000),
    }

    def __init__(self, *, dim: int = 32, hidden: int = 0, buckets: int = 2**16, ngrams: int = 2, max_len: int = 64) -> None:
        self.dim = dim
        self.hidden = hidden
        self.buckets = buckets
        self.ngrams = ngrams
        self.max_len = max_len

    def tokenizer(self) -> HashedWordTokenizer:
        return HashedWordTokenizer(buckets=self.buckets, ngrams=self.ngrams, max_len=self.max_len)

    def _build(self, meta: DatasetMeta) -> Classifier:
        layers: list[nn.Module] = [MeanEmbedding(self.buckets, self.dim)]
        width = self.dim
        if self.hidden:
            layers += [nn.Linear(self.dim, self.hidden), nn.ReLU()]
            width = self.hidden
        return Classifier(nn.Sequential(*layers), nn.Linear(width, meta.n_classes))

    def build(self, meta: DatasetMeta, generator: torch.Generator) -> Classifier:
        self.validate_params()
        model = self._build(meta)
        reset_parameters(model, generator)
        pooled = model.body[0]
        if not isinstance(pooled, MeanEmbedding):  # _build puts it first; a subclass that does not must override build
            raise TypeError(f"{type(self).__name__}._build must start the body with a MeanEmbedding")
        with torch.no_grad():
            nn.init.normal_(pooled.embedding.weight, 0.0, 0.1, generator=generator)
            pooled.embedding.weight[0].zero_()
        return model
