"""Interaction datasets: MovieLens-100K (from the recbole wheel) and a latent-factor generator."""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from unlearnkit.data.recsys.interactions import InteractionData, k_core
from unlearnkit.data.sources.base import package_dir, require_file
from unlearnkit.params import Configurable, Interval

RECBOLE_HINT = "pip install --no-deps recbole==1.2.1"


class InteractionSource(Configurable, ABC):
    """A named interaction dataset; ``load`` returns it with 0/1 labels and dense ids."""

    description: ClassVar[str]
    task_kind: ClassVar[str] = "recommendation"

    @abstractmethod
    def load(self) -> InteractionData: ...


def read_movielens100k() -> np.ndarray:
    """The raw (100000, 4) array user, item, rating, timestamp of ``ml-100k.inter``.

    The file ships in the recbole 1.2.1 wheel; the package is located but
    never imported (its imports pull in heavy dependencies).
    """
    root = package_dir("recbole", RECBOLE_HINT)
    path = require_file(os.path.join(root, "dataset_example", "ml-100k", "ml-100k.inter"), RECBOLE_HINT)
    with open(path, encoding="utf-8") as handle:
        header = handle.readline().rstrip("\n").split("\t")
        expected = ["user_id:token", "item_id:token", "rating:float", "timestamp:float"]
        if header != expected:
            raise ValueError(f"{path}: unexpected header {header}; expected {expected}")
        rows = [line.rstrip("\n").split("\t") for line in handle if line.strip()]
    return np.array(rows, dtype=np.int64)


class MovieLens100k(InteractionSource):
    """MovieLens-100K ratings as binary labels, prepared as IFRU's preprocessing prepares its datasets.

    label = 1 when rating >= ``threshold``, else 0 (explicit negatives, no
    sampling; the default 4 is IFRU's "rating > 3"); iterative
    ``core``-core filtering on all rated rows (default 5: 99,287 rows, 943
    users x 1,349 items); rows stay in file order (the order IFRU's shuffle
    permutes); ids re-indexed densely in the order of the original ids.
    """

    description = "MovieLens-100K from the recbole 1.2.1 wheel (943 users x 1,682 items, 100,000 ratings)"
    parameter_constraints = {"threshold": Interval(int, 1, 5), "core": Interval(int, 0, 100)}

    def __init__(self, *, threshold: int = 4, core: int = 5) -> None:
        self.threshold = threshold
        self.core = core

    def load(self) -> InteractionData:
        self.validate_params()
        raw = read_movielens100k()
        keep = k_core(raw[:, 0], raw[:, 1], self.core)
        label = (raw[:, 2] >= self.threshold).astype(np.int64)
        full = InteractionData(
            "movielens100k", raw[:, 0], raw[:, 1], label, int(raw[:, 0].max()) + 1, int(raw[:, 1].max()) + 1
        )
        return full.compact(np.flatnonzero(keep))


class SyntheticInteractions(InteractionSource):
    """Rows drawn from a low-rank preference model with power-law popularity.

    Users and items are drawn from a Zipf law (exponents ``user_exponent``,
    ``item_exponent``) mixed 50/50 with uniform, duplicates removed; each row's
    label is Bernoulli(sigmoid(signal * <p_u, q_i> / sqrt(rank) + b_i)) with
    Gaussian factors and item biases, so a rank-``rank`` model can learn it but
    not perfectly. The default shape is tiny (tests); the ML-1M shape is
    n_users=6040, n_items=3706, n_rows=1_000_209. All randomness from ``seed``.
    """

    description = "low-rank latent-factor interactions with power-law popularity (tests, scale benchmarks)"
    parameter_constraints = {
        "n_users": Interval(int, 2, None),
        "n_items": Interval(int, 2, None),
        "n_rows": Interval(int, 10, None),
        "rank": Interval(int, 1, 256),
        "signal": Interval(float, 0.0, None),
        "user_exponent": Interval(float, 1.0, 5.0, "neither"),
        "item_exponent": Interval(float, 1.0, 5.0, "neither"),
        "seed": Interval(int, 0, None),
    }

    def __init__(
        self,
        *,
        n_users: int = 60,
        n_items: int = 40,
        n_rows: int = 1200,
        rank: int = 4,
        signal: float = 4.0,
        user_exponent: float = 1.5,
        item_exponent: float = 1.3,
        seed: int = 0,
    ) -> None:
        self.n_users = n_users
        self.n_items = n_items
        self.n_rows = n_rows
        self.rank = rank
        self.signal = signal
        self.user_exponent = user_exponent
        self.item_exponent = item_exponent
        self.seed = seed

    @classmethod
    def combination_problems(cls, params: Mapping[str, Any]) -> list[str]:
        if params["n_rows"] > 0.8 * params["n_users"] * params["n_items"]:
            return [f"n_rows={params['n_rows']} exceeds 80% of the {params['n_users']}x{params['n_items']} user-item pairs"]
        return []

    def load(self) -> InteractionData:
        self.validate_params()
        rng = np.random.default_rng(self.seed)
        user_p = popularity(self.n_users, self.user_exponent, rng)
        item_p = popularity(self.n_items, self.item_exponent, rng)
        keys = np.zeros(0, dtype=np.int64)
        while keys.size < self.n_rows:
            draw = int(1.3 * (self.n_rows - keys.size)) + 16
            users = rng.choice(self.n_users, size=draw, p=user_p)
            items = rng.choice(self.n_items, size=draw, p=item_p)
            fresh = users.astype(np.int64) * self.n_items + items
            # Keep first occurrences in draw order, so the sample stays random.
            merged = np.concatenate([keys, fresh])
            _, first = np.unique(merged, return_index=True)
            keys = merged[np.sort(first)]
        keys = keys[: self.n_rows]
        user, item = keys // self.n_items, keys % self.n_items
        p = rng.standard_normal((self.n_users, self.rank))
        q = rng.standard_normal((self.n_items, self.rank))
        bias = 0.5 * rng.standard_normal(self.n_items)
        logit = self.signal * np.einsum("nd,nd->n", p[user], q[item]) / np.sqrt(self.rank) + bias[item]
        label = (rng.random(len(keys)) < 1.0 / (1.0 + np.exp(-logit))).astype(np.int64)
        return InteractionData("synthetic_interactions", user, item, label, self.n_users, self.n_items)


def popularity(n: int, exponent: float, rng: np.random.Generator) -> np.ndarray:
    """Probabilities: half Zipf(exponent) over a random order of ids, half uniform."""
    zipf = 1.0 / np.arange(1, n + 1) ** exponent
    zipf = zipf[rng.permutation(n)]
    mixed: np.ndarray = 0.5 * zipf / zipf.sum() + 0.5 / n
    probabilities: np.ndarray = mixed / mixed.sum()
    return probabilities
