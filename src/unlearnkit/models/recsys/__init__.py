"""Recommenders: MF and LightGCN embeddings, the normalised graph, sharded ensembles."""

from unlearnkit.models.recsys.embedding import (
    LightGCN,
    MatrixFactorisation,
    Recommender,
    RecommenderBuilder,
    all_scores,
    graph_of,
    row_losses,
    score_pairs,
)
from unlearnkit.models.recsys.graph import (
    normalized_adjacency,
    positive_degrees,
    propagate,
)

__all__ = [
    "LightGCN",
    "MatrixFactorisation",
    "Recommender",
    "RecommenderBuilder",
    "all_scores",
    "graph_of",
    "normalized_adjacency",
    "positive_degrees",
    "propagate",
    "row_losses",
    "score_pairs",
]
