"""Sharded recommenders (SISA, RecEraser): one member model per shard of the training rows.

The ensemble remembers which training rows each member saw (``shard_rows``),
so unlearning can retrain exactly the members whose shard held a forgotten
row. Aggregation is either the average of the members' logits (SISA) or
RecEraser's attention over per-shard transformed embeddings.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from unlearnkit.models.recsys.embedding import Recommender


class AttentionAggregator(nn.Module):
    """RecEraser's aggregation, separately for users and items.

    For a node with member embeddings e^1..e^K: t^k = W_k e^k + b_k (a linear
    map per shard), a^k = softmax_k(h . tanh(A t^k + c)), and the final
    embedding is sum_k a^k t^k. score(u, i) = <final_u, final_i>.
    """

    def __init__(self, n_shards: int, dim: int, attention_dim: int) -> None:
        super().__init__()
        self.transform = nn.ParameterDict(
            {side: nn.Parameter(torch.empty(n_shards, dim, dim)) for side in ("user", "item")}
        )
        self.transform_bias = nn.ParameterDict(
            {side: nn.Parameter(torch.zeros(n_shards, dim)) for side in ("user", "item")}
        )
        self.attention = nn.ModuleDict({side: nn.Linear(dim, attention_dim) for side in ("user", "item")})
        self.query = nn.ParameterDict({side: nn.Parameter(torch.empty(attention_dim)) for side in ("user", "item")})

    def reset_parameters(self, generator: torch.Generator) -> None:
        with torch.no_grad():
            for side in ("user", "item"):
                dim = self.transform[side].shape[-1]
                # Start at the identity map plus noise so the initial ensemble is the members' average.
                eye = torch.eye(dim).expand_as(self.transform[side])
                self.transform[side].copy_(eye + 0.01 * torch.randn(self.transform[side].shape, generator=generator))
                self.transform_bias[side].zero_()
                layer = self.attention_layer(side)
                nn.init.kaiming_uniform_(layer.weight, a=math.sqrt(5), generator=generator)
                bound = 1.0 / math.sqrt(layer.weight.shape[1])
                nn.init.uniform_(layer.bias, -bound, bound, generator=generator)
                nn.init.normal_(self.query[side], 0.0, 0.1, generator=generator)

    def attention_layer(self, side: str) -> nn.Linear:
        """The attention projection of ``side`` (typed: nn.ModuleDict yields plain modules)."""
        layer = self.attention[side]
        if not isinstance(layer, nn.Linear):
            raise TypeError(f"the {side} attention layer is a {type(layer).__name__}, not nn.Linear")
        return layer

    def combine(self, side: str, stack: torch.Tensor) -> torch.Tensor:
        """(K, N, d) member embeddings -> (N, d) aggregated embeddings."""
        transformed = torch.einsum("knd,ked->kne", stack, self.transform[side]) + self.transform_bias[side][:, None, :]
        logits = torch.tanh(self.attention_layer(side)(transformed)) @ self.query[side]  # (K, N)
        weights = torch.softmax(logits, dim=0)
        combined: torch.Tensor = (weights[..., None] * transformed).sum(0)
        return combined


class ShardedRecommender(nn.Module):
    """Members trained on disjoint shards of the training rows, plus an aggregation rule."""

    def __init__(
        self, members: list[Recommender], shard_rows: list[np.ndarray], aggregator: AttentionAggregator | None
    ) -> None:
        super().__init__()
        if len(members) != len(shard_rows) or not members:
            raise ValueError("a sharded recommender needs one member per shard and at least one shard")
        self.members = nn.ModuleList(members)
        self.shard_rows = [np.sort(np.asarray(rows, dtype=np.int64)) for rows in shard_rows]
        self.aggregator = aggregator

    @property
    def aggregation(self) -> str:
        return "average" if self.aggregator is None else "attention"

    def member(self, k: int) -> Recommender:
        """Member ``k`` (typed: nn.ModuleList yields plain modules)."""
        member = self.members[k]
        if not isinstance(member, Recommender):
            raise TypeError(f"member {k} is a {type(member).__name__}, not a Recommender")
        return member

    @property
    def n_users(self) -> int:
        return self.member(0).n_users

    @property
    def n_items(self) -> int:
        return self.member(0).n_items

    @property
    def dim(self) -> int:
        """The members' embedding width."""
        return int(self.member(0).user_embedding.shape[1])

    def member_embeddings(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(K, n_users, d) and (K, n_items, d): every member's propagated embeddings."""
        pairs = [self.member(k).final_embeddings() for k in range(len(self.members))]
        return torch.stack([u for u, _ in pairs]), torch.stack([i for _, i in pairs])

    def final_embeddings(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Aggregated embeddings (attention only; averaging logits has no single embedding)."""
        if self.aggregator is None:
            raise ValueError("an averaging ensemble has no aggregated embeddings; use score or all_scores")
        users, items = self.member_embeddings()
        return self.aggregator.combine("user", users), self.aggregator.combine("item", items)

    def forward(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        if self.aggregator is None:
            return torch.stack([member(users, items) for member in self.members]).mean(0)
        user_emb, item_emb = self.final_embeddings()
        return (user_emb[users] * item_emb[items]).sum(-1)

    def score(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        scores: torch.Tensor = self(users, items)
        return scores
