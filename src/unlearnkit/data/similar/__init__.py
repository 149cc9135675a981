"""Similar samples: constructed near-copies (block masks, augmentations, paraphrases) and embedding neighbours of forget targets."""

from unlearnkit.data.similar.base import Construction, SimilarConstructor, SimilarSet
from unlearnkit.data.similar.neighbourhood import (
    Neighbourhood,
    expanded_split,
    neighbourhood,
)
from unlearnkit.data.similar.registry import SIMILAR_CONSTRUCTORS
from unlearnkit.data.similar.split import attach_similar

__all__ = [
    "SIMILAR_CONSTRUCTORS",
    "Construction",
    "Neighbourhood",
    "SimilarConstructor",
    "SimilarSet",
    "attach_similar",
    "expanded_split",
    "neighbourhood",
]
