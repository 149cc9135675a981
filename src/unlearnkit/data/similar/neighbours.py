"""Embedding neighbours: existing samples whose embedding is close to a target's."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from unlearnkit.data.similar.base import Construction, SimilarConstructor, SimilarSet
from unlearnkit.data.similar.encoders import ENCODERS, SentenceEncoder, embed
from unlearnkit.params import Interval, NoneOr, Options


def neighbours_above(
    target_vectors: torch.Tensor, pool_vectors: torch.Tensor, tau: float, max_neighbours: int | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pairs (target position, pool position, cosine) with cosine >= ``tau``.

    Rows must be unit-norm. With ``max_neighbours``, only that many nearest
    pool rows per target are kept (ties broken by position). Pairs come out
    target by target, nearest first.
    """
    similarity = target_vectors @ pool_vectors.T
    t_pos, p_pos, cos = [], [], []
    for t in range(similarity.shape[0]):
        row = similarity[t]
        hits = torch.nonzero(row >= tau).flatten()
        # stable sort on -cos keeps position order among ties
        order = torch.sort(-row[hits], stable=True).indices
        hits = hits[order][:max_neighbours]
        t_pos.append(np.full(hits.numel(), t, np.int64))
        p_pos.append(hits.numpy().astype(np.int64))
        cos.append(row[hits].numpy().astype(np.float64))
    if not t_pos:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float64)
    return np.concatenate(t_pos), np.concatenate(p_pos), np.concatenate(cos)


class EmbeddingNeighbours(SimilarConstructor):
    """Existing ``pool`` rows whose embedding has cosine similarity >= ``tau`` with a target.

    Nothing is appended: the record names the neighbours already in the data,
    nearest first, at most ``max_neighbours`` per target (None: all above
    ``tau``; neighbours beyond a cap stay in the data, unrecorded). The
    record's score is the cosine similarity. Encoders (see
    :func:`unlearnkit.data.similar.encoders.embed`): ``"pixels"`` or
    ``"features"`` (the trained model's penultimate layer; pass ``model=``)
    for images, ``"sentence"`` (all-MiniLM-L6-v2) for text.
    """

    name = "embedding_neighbours"
    description = "existing samples with embedding cosine similarity >= tau to a target (pixels, model features or MiniLM)"
    modalities = frozenset({"image", "text"})
    appends = False
    parameter_constraints = {
        "tau": Interval(float, -1.0, 1.0),
        "encoder": Options(ENCODERS),
        "max_neighbours": NoneOr(Interval(int, 1, None)),
    }

    def __init__(self, *, tau: float = 0.9, encoder: str = "pixels", max_neighbours: int | None = None) -> None:
        self.tau = tau
        self.encoder = encoder
        self.max_neighbours = max_neighbours
        self.sentence_encoder = SentenceEncoder()  # loaded on first use, then reused by this constructor

    def _construct(
        self, data: Any, targets: np.ndarray, pool: np.ndarray, generator: torch.Generator, model: nn.Module | None
    ) -> Construction[Any]:
        if targets.size == 0:  # nothing to look up: do not load an encoder
            empty = np.zeros(0, np.int64)
            return Construction(data, SimilarSet(self.name, self.get_params(), len(data), targets, empty, empty, np.zeros(0)))
        vectors = embed(data, np.r_[targets, pool], self.encoder, model=model, sentence_encoder=self.sentence_encoder)
        t_pos, p_pos, cos = neighbours_above(vectors[: targets.size], vectors[targets.size :], self.tau, self.max_neighbours)
        similar = SimilarSet(self.name, self.get_params(), len(data), targets, pool[p_pos], targets[t_pos], cos)
        return Construction(data, similar)
