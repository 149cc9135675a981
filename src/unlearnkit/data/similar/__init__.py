"""Similar samples: constructed near-copies (block masks, augmentations, paraphrases) and embedding neighbours of forget targets."""

from unlearnkit.data.similar.base import Construction, SimilarConstructor, SimilarSet
from unlearnkit.data.similar.build import SimilarBuild, SimilarSpec, similar_split
from unlearnkit.data.similar.neighbourhood import (
    Neighbourhood,
    expanded_split,
    neighbourhood,
)
from unlearnkit.data.similar.registry import FORGET_EXPANSIONS, SIMILAR_CONSTRUCTORS
from unlearnkit.data.similar.split import attach_similar

__all__ = [
    "FORGET_EXPANSIONS",
    "SIMILAR_CONSTRUCTORS",
    "Construction",
    "Neighbourhood",
    "SimilarBuild",
    "SimilarConstructor",
    "SimilarSet",
    "SimilarSpec",
    "attach_similar",
    "expanded_split",
    "neighbourhood",
    "similar_split",
]
