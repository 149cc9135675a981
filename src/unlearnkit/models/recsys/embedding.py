"""Embedding recommenders: matrix factorisation (no propagation) and LightGCN.

Both are one module, :class:`Recommender`: ego embeddings E_U, E_I, a number
of propagation layers, and the graph the model is conditioned on (the
positive training graph; ``None`` for MF). score(u, i) = <e_u, e_i> of the
propagated embeddings; the loss is BCE-with-logits on explicit 0/1 labels.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar, Protocol, runtime_checkable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from unlearnkit.data.recsys.interactions import InteractionData, InteractionMeta
from unlearnkit.models.recsys.graph import normalized_adjacency, propagate
from unlearnkit.params import Configurable, Interval


def score_pairs(
    user_table: torch.Tensor,
    item_table: torch.Tensor,
    graph: torch.Tensor | None,
    layers: int,
    users: torch.Tensor,
    items: torch.Tensor,
) -> torch.Tensor:
    """Logits <e_u, e_i> after ``layers`` propagation steps; a pure function of its inputs."""
    n_users = user_table.shape[0]
    if layers == 0:
        user_emb, item_emb = user_table, item_table
    else:
        final = propagate(torch.cat([user_table, item_table]), graph, layers)
        user_emb, item_emb = final[:n_users], final[n_users:]
    return (user_emb[users] * item_emb[items]).sum(-1)


def row_losses(
    user_table: torch.Tensor,
    item_table: torch.Tensor,
    graph: torch.Tensor | None,
    layers: int,
    users: torch.Tensor,
    items: torch.Tensor,
    labels: torch.Tensor,
    l2: float,
) -> torch.Tensor:
    """Per-row training loss: BCE-with-logits + l2/2 (|E_U[u]|^2 + |E_I[i]|^2) on ego embeddings.

    The L2 term is attached to rows (as in LightGCN's batch regulariser) so
    the objective is a mean over rows: deleting rows deletes their penalty
    too, and influence functions stay exact up to the Newton approximation.
    """
    logits = score_pairs(user_table, item_table, graph, layers, users, items)
    return penalised_bce(logits, labels, user_table[users], item_table[items], l2)


def penalised_bce(
    logits: torch.Tensor, labels: torch.Tensor, user_rows: torch.Tensor, item_rows: torch.Tensor, l2: float
) -> torch.Tensor:
    """BCE-with-logits per row plus l2/2 (|user row|^2 + |item row|^2) of the rows' ego embeddings."""
    loss = F.binary_cross_entropy_with_logits(logits, labels.to(logits.dtype), reduction="none")
    if l2 > 0:
        loss = loss + 0.5 * l2 * (user_rows.pow(2).sum(-1) + item_rows.pow(2).sum(-1))
    return loss


@runtime_checkable
class PairScorer(Protocol):
    """What row-wise evaluation reads of a recommender (single models and sharded ensembles alike)."""

    def score(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor: ...


@runtime_checkable
class EmbeddingScorer(Protocol):
    """What full-ranking evaluation reads of a recommender: its final user and item embeddings."""

    def final_embeddings(self) -> tuple[torch.Tensor, torch.Tensor]: ...


def as_pair_scorer(model: nn.Module) -> PairScorer:
    """``model`` seen as a :class:`PairScorer`; a clear error for a module that is not a recommender."""
    if not isinstance(model, PairScorer):
        raise TypeError(f"{type(model).__name__} is not a recommender: it has no score(users, items) method")
    return model


class Recommender(nn.Module):
    """Ego embeddings + propagation depth + the graph the model is conditioned on.

    ``graph`` is a plain attribute (not a parameter or buffer): it describes
    which interactions the model may use at inference, and unlearning
    replaces it with the graph without the forgotten interactions.
    """

    def __init__(self, n_users: int, n_items: int, dim: int, layers: int) -> None:
        super().__init__()
        self.user_embedding = nn.Parameter(torch.empty(n_users, dim))
        self.item_embedding = nn.Parameter(torch.empty(n_items, dim))
        self.layers = layers
        self.graph: torch.Tensor | None = None

    @property
    def n_users(self) -> int:
        return int(self.user_embedding.shape[0])

    @property
    def n_items(self) -> int:
        return int(self.item_embedding.shape[0])

    def condition_on(self, data: InteractionData, rows: np.ndarray) -> None:
        """Use the positive interactions among ``rows`` as the propagation graph (no-op for MF)."""
        self.graph = graph_of(data, rows, self.user_embedding.dtype) if self.layers > 0 else None

    def forward(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        return score_pairs(self.user_embedding, self.item_embedding, self.graph, self.layers, users, items)

    def score(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        scores: torch.Tensor = self(users, items)
        return scores

    def final_embeddings(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Propagated user and item embeddings over the model's own graph."""
        final = propagate(torch.cat([self.user_embedding, self.item_embedding]), self.graph, self.layers)
        return final[: self.n_users], final[self.n_users :]


@torch.no_grad()
def all_scores(model: nn.Module, users: torch.Tensor) -> torch.Tensor:
    """(len(users), n_items) logits of every item for the given users, in eval mode.

    Works for any recommender exposing ``final_embeddings`` (MF, LightGCN,
    attention ensembles) and for averaging ensembles (mean of members' scores).
    """
    was_training = model.training
    model.eval()
    try:
        members = getattr(model, "members", None)
        if members is not None and getattr(model, "aggregator", None) is None:
            return torch.stack([all_scores(member, users) for member in members]).mean(0)
        if not isinstance(model, EmbeddingScorer):
            raise TypeError(f"{type(model).__name__} has no final_embeddings(): all_scores cannot rank every item with it")
        user_emb, item_emb = model.final_embeddings()
        return user_emb[users] @ item_emb.T
    finally:
        model.train(was_training)


def graph_of(data: InteractionData, rows: np.ndarray, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """The normalised adjacency of the positive interactions among ``rows``."""
    positive = data.positives(rows)
    return normalized_adjacency(data.user[positive], data.item[positive], data.n_users, data.n_items).to(dtype)


class RecommenderBuilder(Configurable, ABC):
    """Builds a :class:`Recommender` for a dataset, initialised from a generator."""

    description: ClassVar[str]

    @abstractmethod
    def _layers(self) -> int: ...

    dim: int
    init_std: float

    def initial_rows(self, count: int, generator: torch.Generator) -> torch.Tensor:
        """``count`` fresh embedding rows drawn as :meth:`build` draws them (N(0, init_std^2))."""
        return torch.empty(count, self.dim).normal_(0.0, self.init_std, generator=generator)

    def build(self, meta: InteractionMeta, generator: torch.Generator) -> Recommender:
        self.validate_params()
        model = Recommender(meta.n_users, meta.n_items, self.dim, self._layers())
        with torch.no_grad():
            model.user_embedding.normal_(0.0, self.init_std, generator=generator)
            model.item_embedding.normal_(0.0, self.init_std, generator=generator)
        return model


class MatrixFactorisation(RecommenderBuilder):
    """score(u, i) = <E_U[u], E_I[i]> (IFRU's MF backbone, d 48-64)."""

    description = "matrix factorisation: dot product of user and item embeddings"
    parameter_constraints = {"dim": Interval(int, 1, 4096), "init_std": Interval(float, 0.0, None, "neither")}

    def __init__(self, *, dim: int = 64, init_std: float = 0.1) -> None:
        self.dim = dim
        self.init_std = init_std

    def _layers(self) -> int:
        return 0


class LightGCN(RecommenderBuilder):
    """LightGCN: embeddings averaged over ``layers`` propagation steps of D^-1/2 A D^-1/2."""

    description = "LightGCN: mean of 0..L propagation steps over the normalised positive graph"
    parameter_constraints = {
        "dim": Interval(int, 1, 4096),
        "layers": Interval(int, 1, 8),
        "init_std": Interval(float, 0.0, None, "neither"),
    }

    def __init__(self, *, dim: int = 64, layers: int = 1, init_std: float = 0.1) -> None:
        self.dim = dim
        self.layers = layers
        self.init_std = init_std

    def _layers(self) -> int:
        return self.layers
