"""Recommendation data: interactions, sources, forget selectors and the split protocol."""

from unlearnkit.data.recsys.interactions import InteractionData, InteractionMeta, k_core
from unlearnkit.data.recsys.selectors import (
    FlipLabels,
    Interactions,
    InteractionSelection,
    InteractionSelector,
    RandomInteractions,
    Users,
)
from unlearnkit.data.recsys.sources import (
    InteractionSource,
    MovieLens100k,
    SyntheticInteractions,
)
from unlearnkit.data.recsys.splitting import InteractionSplitSpec

__all__ = [
    "FlipLabels",
    "InteractionData",
    "InteractionMeta",
    "InteractionSelection",
    "InteractionSelector",
    "InteractionSource",
    "InteractionSplitSpec",
    "Interactions",
    "MovieLens100k",
    "RandomInteractions",
    "SyntheticInteractions",
    "Users",
    "k_core",
]
