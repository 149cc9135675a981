"""The neighbourhood remedy: forget the targets' similar samples too.

N_tau(S) is the set of retain rows similar to a forget row: the copies and
neighbours a :class:`SimilarSet` recorded for it (optionally only those with
score >= ``min_score``) and/or every retain row whose embedding has cosine
similarity >= ``tau`` with some forget row. Expanding S to S u N_tau(S) before
unlearning aims at the oracle A(D \\ N_tau(S)) instead of A(D \\ S).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torch import nn

from unlearnkit.data.dataset import ClassificationData
from unlearnkit.data.similar.base import SimilarSet
from unlearnkit.data.similar.encoders import ENCODERS, SentenceEncoder, embed
from unlearnkit.data.splits import Split
from unlearnkit.data.text.dataset import TextData
from unlearnkit.errors import InvalidParameterError
from unlearnkit.params import Configurable, Interval, NoneOr, Options

SOURCES = ("recorded", "embedding", "both")


def neighbourhood(
    forget: np.ndarray,
    retain: np.ndarray,
    *,
    similar: SimilarSet | None = None,
    min_score: float | None = None,
    embeddings: torch.Tensor | None = None,
    tau: float | None = None,
) -> np.ndarray:
    """N_tau(S): the retain rows similar to some row of ``forget``, sorted.

    ``similar``: recorded similar rows of the forget rows that are its
    targets (score >= ``min_score`` when given). ``embeddings``: unit-norm
    rows aligned with the dataset (row i embeds sample i); with ``tau``,
    adds every retain row whose cosine similarity with a forget row is
    >= ``tau``. Give at least one of the two sources.
    """
    if similar is None and embeddings is None:
        raise InvalidParameterError("neighbourhood needs a SimilarSet (similar=) or embeddings (embeddings= with tau=)")
    if (embeddings is None) != (tau is None):
        raise InvalidParameterError("embeddings= and tau= go together")
    found = [np.zeros(0, np.int64)]
    if similar is not None:
        targets = np.intersect1d(forget, similar.targets)
        found.append(similar.neighbourhood(targets, min_score))
    if embeddings is not None and tau is not None and forget.size and retain.size:
        forget_index = torch.as_tensor(forget, dtype=torch.long)
        retain_index = torch.as_tensor(retain, dtype=torch.long)
        similarity = embeddings[forget_index] @ embeddings[retain_index].T
        found.append(retain[(similarity >= tau).any(dim=0).numpy()])
    return np.intersect1d(np.concatenate(found), retain)


def expanded_split(split: Split, extra: np.ndarray) -> Split:
    """``split`` whose forget set also holds ``extra`` (retain rows); the forget distribution grows with it."""
    outside = np.setdiff1d(extra, split.retain)
    if outside.size:
        raise InvalidParameterError(f"{outside.size} rows to add to the forget set are not retain rows (e.g. {outside[:5].tolist()})")
    distribution = None if split.forget_distribution is None else np.union1d(split.forget_distribution, extra)
    return Split(
        split.n_samples,
        split.train,
        np.union1d(split.forget, extra),
        split.validation,
        split.test,
        split.heldout_forget,
        distribution,
    )


class Neighbourhood(Configurable):
    """Expands a forget set S to S u N_tau(S) (the remedy, usable before any method).

    ``source``: ``"recorded"`` (the constructed copies and neighbours of a
    :class:`SimilarSet`, those with score >= ``min_score``), ``"embedding"``
    (retain rows with cosine >= ``tau`` to a forget row under ``encoder``),
    or ``"both"``.
    """

    description = "forget the similar samples of the forget set too: S u N_tau(S)"
    parameter_constraints = {
        "source": Options(SOURCES),
        "tau": NoneOr(Interval(float, -1.0, 1.0)),
        "encoder": Options(ENCODERS),
        "min_score": NoneOr(Interval(float, None, None)),
    }

    def __init__(
        self, *, source: str = "recorded", tau: float | None = None, encoder: str = "pixels", min_score: float | None = None
    ) -> None:
        self.source = source
        self.tau = tau
        self.encoder = encoder
        self.min_score = min_score
        self.sentence_encoder = SentenceEncoder()  # loaded on first use only

    @classmethod
    def combination_problems(cls, params: Mapping[str, Any]) -> list[str]:
        if params["source"] != "recorded" and params.get("tau") is None:
            return [f"source {params['source']!r} needs a similarity threshold 'tau'"]
        return []

    def neighbours(
        self, data: ClassificationData | TextData, split: Split, *, similar: SimilarSet | None = None, model: nn.Module | None = None
    ) -> np.ndarray:
        """N_tau(S) for the forget set of ``split`` (retain rows, sorted)."""
        self.validate_params()
        if self.source != "embedding" and similar is None:
            raise InvalidParameterError(f"the neighbourhood source {self.source!r} needs the SimilarSet recorded when the data was built")
        embeddings = None
        if self.source != "recorded":
            rows = np.union1d(split.forget, split.retain)
            vectors = embed(data, rows, self.encoder, model=model, sentence_encoder=self.sentence_encoder)
            embeddings = torch.zeros(split.n_samples, vectors.shape[1])
            embeddings[torch.as_tensor(rows)] = vectors
        return neighbourhood(
            split.forget,
            split.retain,
            similar=similar if self.source != "embedding" else None,
            min_score=self.min_score,
            embeddings=embeddings,
            tau=self.tau if self.source != "recorded" else None,
        )

    def expand(
        self, data: ClassificationData | TextData, split: Split, *, similar: SimilarSet | None = None, model: nn.Module | None = None
    ) -> Split:
        """``split`` with forget set S u N_tau(S)."""
        return expanded_split(split, self.neighbours(data, split, similar=similar, model=model))
