"""Registry of similar-sample constructors (usable from configs by name)."""

from __future__ import annotations

from unlearnkit.data.similar.base import SimilarConstructor
from unlearnkit.data.similar.images import Augment, BlockMask
from unlearnkit.data.similar.neighbours import EmbeddingNeighbours
from unlearnkit.data.similar.paraphrase import Paraphrase
from unlearnkit.registry import Registry

SIMILAR_CONSTRUCTORS: Registry[type[SimilarConstructor]] = Registry(
    "similar-sample constructor",
    {
        "block_mask": BlockMask,
        "augment": Augment,
        "embedding_neighbours": EmbeddingNeighbours,
        "paraphrase": Paraphrase,
    },
)
