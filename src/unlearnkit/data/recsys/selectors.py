"""Forget selectors over training interactions.

Every selector returns training row indices; ``flip_labels`` additionally
flips those rows' labels in the original's training data (IFRU's poisoned
setting: the original learns the flipped rows, retraining drops them, so a
complete unlearner should *raise* test AUC towards the retrained model's).
Bad requests raise before any training.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch

from unlearnkit.data.recsys.interactions import InteractionData
from unlearnkit.errors import InvalidParameterError, SplitError
from unlearnkit.params import (
    Configurable,
    Constraint,
    Interval,
    IntList,
    NoneOr,
    Options,
)


@dataclass(frozen=True, eq=False)
class InteractionSelection:
    rows: np.ndarray  # sorted training row indices to forget
    flip_labels: bool  # whether the original trains on these rows with flipped labels


class InteractionSelector(Configurable, ABC):
    """Chooses the forget rows among the training rows."""

    description: ClassVar[str]
    flips_labels: ClassVar[bool] = False
    # True when the selection is every training row of some users: their never-trained
    # (validation) rows then come from the forget set's distribution, not the others'.
    deletes_users: ClassVar[bool] = False

    @abstractmethod
    def _select(self, data: InteractionData, train: np.ndarray, generator: torch.Generator) -> np.ndarray: ...

    def select(self, data: InteractionData, train: np.ndarray, generator: torch.Generator) -> InteractionSelection:
        self.validate_params()
        rows = np.sort(np.asarray(self._select(data, train, generator), dtype=np.int64))
        name = type(self).__name__
        if rows.size == 0:
            raise SplitError(f"{name} selected no interactions; the forget set must not be empty")
        outside = np.setdiff1d(rows, train)
        if outside.size:
            raise SplitError(f"{name} selected {outside.size} rows that are not training rows (e.g. {outside[:5].tolist()})")
        if np.unique(rows).size != rows.size:
            raise SplitError(f"{name} selected duplicate rows")
        if rows.size >= np.unique(train).size:
            raise SplitError(f"{name} selected all {rows.size} training interactions; nothing would be retained")
        return InteractionSelection(rows, self.flips_labels)


def _exactly_one(params: Mapping[str, Any], a: str, b: str) -> list[str]:
    if (params.get(a) is None) == (params.get(b) is None):
        return [f"give exactly one of {a!r} and {b!r}"]
    return []


def random_rows(train: np.ndarray, count: int | None, fraction: float | None, generator: torch.Generator) -> np.ndarray:
    if count is not None and count >= len(train):
        raise InvalidParameterError(f"count={count} would forget all {len(train)} training interactions")
    if count is not None:
        n = count
    elif fraction is not None:
        n = max(1, round(fraction * len(train)))
    else:  # combination_problems requires exactly one of them before any selection runs
        raise ValueError("random_rows needs a count or a fraction")
    order = torch.randperm(len(train), generator=generator).numpy()
    chosen: np.ndarray = train[order[:n]]
    return chosen


def last_rows(train: np.ndarray, count: int | None, fraction: float | None) -> np.ndarray:
    """The last rows of ``train`` in its order; a fraction counts as IFRU's ``n - int(n * (1 - fraction))``."""
    if count is not None and count >= len(train):
        raise InvalidParameterError(f"count={count} would forget all {len(train)} training interactions")
    n = len(train)
    if count is not None:
        size = count
    elif fraction is not None:
        # IFRU's _data_process.py: nn = int(n * (1 - attack)); the rows nn..n-1 are flipped.
        size = n - int(n * (1 - fraction))
    else:
        raise InvalidParameterError("give exactly one of 'count' and 'fraction'")
    return np.asarray(train[n - size :])


class RandomInteractions(InteractionSelector):
    """A count or fraction of the training interactions, drawn at random or the last ones.

    ``order="random"`` draws ``count`` (or ``max(1, round(fraction * n))``)
    rows with the task's generator. ``order="last"`` takes the last rows in
    the split's training order, as IFRU's preprocessing does: with
    ``InteractionSplitSpec(protocol="ifru")`` that order is IFRU's shuffle,
    and a fraction gives ``n - int(n * (1 - fraction))`` rows (596 of
    59,572 at 1 % on ML-100K); with the default protocol the training rows
    are in data order, so "last" means the latest rows of the source.
    """

    description = "training interactions (count or fraction; random, or the last in the split's order)"
    parameter_constraints: ClassVar[dict[str, Constraint]] = {
        "count": NoneOr(Interval(int, 1, None)),
        "fraction": NoneOr(Interval(float, 0.0, 1.0, "neither")),
        "order": Options(("random", "last")),
    }

    def __init__(self, *, count: int | None = None, fraction: float | None = None, order: str = "random") -> None:
        self.count = count
        self.fraction = fraction
        self.order = order

    @classmethod
    def combination_problems(cls, params: Mapping[str, Any]) -> list[str]:
        return _exactly_one(params, "count", "fraction")

    def _select(self, data: InteractionData, train: np.ndarray, generator: torch.Generator) -> np.ndarray:
        if self.order == "last":
            return last_rows(train, self.count, self.fraction)
        return random_rows(train, self.count, self.fraction, generator)


class FlipLabels(RandomInteractions):
    """Training interactions whose labels are flipped in the original's data (IFRU's noisy-data setting).

    ``order="last"`` with ``InteractionSplitSpec(protocol="ifru")`` flips
    the rows IFRU's preprocessing flips; the default ``order="random"``
    flips a random subset, which overlaps IFRU's only by chance.
    """

    description = "training interactions with flipped labels (noisy/poisoned data; random or the last rows)"
    flips_labels = True


class Users(InteractionSelector):
    """Every training interaction of some users: explicit ids or ``n_users`` chosen by ``order``.

    ``users`` are dense ids of the prepared data. ``order`` picks the
    ``n_users`` users at random, or the most / least active by number of
    training interactions (ties broken by the smaller id), CURE4Rec's
    ``core`` / ``edge`` selections.
    """

    description = "all training interactions of the given (or n random / most / least active) users"
    deletes_users = True
    parameter_constraints = {
        "users": NoneOr(IntList()),
        "n_users": NoneOr(Interval(int, 1, None)),
        "order": Options(("random", "most_active", "least_active")),
    }

    def __init__(self, *, users: list[int] | None = None, n_users: int | None = None, order: str = "random") -> None:
        self.users = users
        self.n_users = n_users
        self.order = order

    @classmethod
    def combination_problems(cls, params: Mapping[str, Any]) -> list[str]:
        problems = _exactly_one(params, "users", "n_users")
        if params.get("users") is not None and params.get("order", "random") != "random":
            problems.append("'order' applies only with 'n_users'")
        return problems

    def _select(self, data: InteractionData, train: np.ndarray, generator: torch.Generator) -> np.ndarray:
        activity = np.bincount(data.user[train], minlength=data.n_users)
        active = np.flatnonzero(activity)
        if self.users is not None:
            out = [u for u in self.users if not 0 <= u < data.n_users]
            if out:
                raise InvalidParameterError(f"user ids {out} are out of range [0, {data.n_users})")
            idle = [u for u in self.users if activity[u] == 0]
            if idle:
                raise InvalidParameterError(f"users {idle} have no training interactions")
            chosen = np.asarray(self.users)
        else:
            if self.n_users is None:  # combination_problems requires users or n_users before any selection runs
                raise ValueError("Users needs users or n_users")
            if self.n_users >= active.size:
                raise InvalidParameterError(
                    f"n_users={self.n_users} would forget every one of the {active.size} users with training interactions"
                )
            if self.order == "random":
                chosen = active[torch.randperm(active.size, generator=generator).numpy()[: self.n_users]]
            else:
                sign = -1 if self.order == "most_active" else 1
                chosen = active[np.argsort(sign * activity[active], kind="stable")[: self.n_users]]
        return train[np.isin(data.user[train], chosen)]


class PairList:
    """A non-empty list of distinct ``[user, item]`` pairs of non-negative ints."""

    def accepts(self, value: Any) -> bool:
        if not isinstance(value, (list, tuple)) or not value:
            return False
        pairs = []
        for pair in value:
            if not (isinstance(pair, (list, tuple)) and len(pair) == 2):
                return False
            if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in pair):
                return False
            pairs.append(tuple(pair))
        return len(set(pairs)) == len(pairs)

    def describe(self) -> str:
        return "a non-empty list of distinct [user, item] pairs of non-negative ints"

    def invalid_example(self) -> Any:
        return []


class Interactions(InteractionSelector):
    """Explicit interactions ``[[user, item], ...]`` (dense ids of the prepared data, as for ``users``).

    Every pair must be a training interaction: ids out of range, and pairs
    that exist only among validation/test rows or not at all, are refused
    before anything is trained.
    """

    description = "the given [user, item] training interactions (dense ids of the prepared data)"
    parameter_constraints = {"pairs": PairList()}

    def __init__(self, *, pairs: list[list[int]] | None = None) -> None:
        self.pairs = pairs

    @classmethod
    def combination_problems(cls, params: Mapping[str, Any]) -> list[str]:
        return ["'pairs' is required"] if params.get("pairs") is None else []

    def _select(self, data: InteractionData, train: np.ndarray, generator: torch.Generator) -> np.ndarray:
        pairs = np.asarray(self.pairs, dtype=np.int64).reshape(-1, 2)
        bad_users = sorted({int(u) for u in pairs[:, 0] if u >= data.n_users})
        bad_items = sorted({int(i) for i in pairs[:, 1] if i >= data.n_items})
        if bad_users or bad_items:
            raise InvalidParameterError(
                f"ids out of range: users {bad_users} (allowed [0, {data.n_users})), items {bad_items} (allowed [0, {data.n_items}))"
            )
        train_keys = data.user[train] * data.n_items + data.item[train]
        wanted = pairs[:, 0] * data.n_items + pairs[:, 1]
        missing = ~np.isin(wanted, train_keys)
        if missing.any():
            shown = pairs[missing][:5].tolist()
            raise SplitError(f"{int(missing.sum())} requested interactions are not training interactions (e.g. {shown})")
        return train[np.isin(train_keys, wanted)]
