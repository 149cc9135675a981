"""Registries of similar-sample constructors and forget expansions (usable from configs by name)."""

from __future__ import annotations

from unlearnkit.data.similar.base import SimilarConstructor
from unlearnkit.data.similar.images import Augment, BlockMask
from unlearnkit.data.similar.neighbourhood import Neighbourhood
from unlearnkit.data.similar.neighbours import EmbeddingNeighbours
from unlearnkit.data.similar.paraphrase import Paraphrase
from unlearnkit.registry import Registry

# An experiment's `similar = { name = ... }`.
SIMILAR_CONSTRUCTORS: Registry[type[SimilarConstructor]] = Registry(
    "similar-sample constructor",
    {
        "block_mask": BlockMask,
        "augment": Augment,
        "embedding_neighbours": EmbeddingNeighbours,
        "paraphrase": Paraphrase,
    },
)

# A method entry's `forget = { name = ... }`: the forget set S that method unlearns, expanded.
FORGET_EXPANSIONS: Registry[type[Neighbourhood]] = Registry("forget expansion", {"neighbourhood": Neighbourhood})
