"""Tiny synthetic recommendation tasks shared by the recommendation tests (cached, never mutated)."""

from __future__ import annotations

from functools import cache

import numpy as np
import torch

from unlearnkit.data.recsys import (
    FlipLabels,
    InteractionData,
    InteractionSplitSpec,
    SyntheticInteractions,
)
from unlearnkit.data.splits import Split
from unlearnkit.methods.recsys import RecommendationTask, train_original
from unlearnkit.models.recsys import (
    LightGCN,
    MatrixFactorisation,
    Recommender,
    RecommenderBuilder,
)
from unlearnkit.training.recsys import RecTrainSpec

TINY_SPEC = RecTrainSpec(epochs=60, batch_size=128, lr=5e-2, l2=1e-3, patience=3)


@cache
def tiny_interactions(fraction: float = 0.02) -> tuple[InteractionData, Split]:
    """~1,200 rows over 60 users x 40 items, 2% of training rows label-flipped."""
    source = SyntheticInteractions(n_users=60, n_items=40, n_rows=1200, signal=8.0, seed=0)
    return InteractionSplitSpec(seed=0).build(source.load(), FlipLabels(fraction=fraction))


def builder(kind: str) -> RecommenderBuilder:
    return MatrixFactorisation(dim=4) if kind == "mf" else LightGCN(dim=4, layers=1)


def make_rec_task(kind: str = "lightgcn", seed: int = 0, split: Split | None = None) -> RecommendationTask:
    data, default_split = tiny_interactions()
    return RecommendationTask(data, split or default_split, TINY_SPEC, builder(kind), torch.Generator().manual_seed(seed))


@cache
def tiny_original(kind: str = "lightgcn") -> Recommender:
    return train_original(make_rec_task(kind, seed=0))


def empty_forget(split: Split) -> Split:
    return split.with_forget(np.zeros(0, dtype=np.int64))
