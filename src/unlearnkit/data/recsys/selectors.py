"""Forget selectors over training interactions.

Every selector returns training row indices; ``flip_labels`` additionally
flips those rows' labels in the original's training data (IFRU's poisoned
setting: the original learns the flipped rows, retraining drops them, so a
complete unlearner should *raise* test AUC towards the retrained model's).
Bad requests raise before any training.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch

from unlearnkit.data.recsys.interactions import InteractionData
from unlearnkit.errors import InvalidParameterError, SplitError
from unlearnkit.params import Configurable, Interval, IntList, NoneOr, Options


@dataclass(frozen=True, eq=False)
class InteractionSelection:
    rows: np.ndarray  # sorted training row indices to forget
    flip_labels: bool  # whether the original trains on these rows with flipped labels


class InteractionSelector(Configurable, ABC):
    """Chooses the forget rows among the training rows."""

    description: ClassVar[str]
    flips_labels: ClassVar[bool] = False

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


def _exactly_one(params: dict[str, Any], a: str, b: str) -> list[str]:
    if (params.get(a) is None) == (params.get(b) is None):
        return [f"give exactly one of {a!r} and {b!r}"]
    return []


def random_rows(train: np.ndarray, count: int | None, fraction: float | None, generator: torch.Generator) -> np.ndarray:
    if count is not None and count >= len(train):
        raise InvalidParameterError(f"count={count} would forget all {len(train)} training interactions")
    n = count if count is not None else max(1, round(fraction * len(train)))
    order = torch.randperm(len(train), generator=generator).numpy()
    return train[order[:n]]


class RandomInteractions(InteractionSelector):
    """A random count or fraction of the training interactions."""

    description = "random training interactions (count or fraction)"
    parameter_constraints = {
        "count": NoneOr(Interval(int, 1, None)),
        "fraction": NoneOr(Interval(float, 0.0, 1.0, "neither")),
    }

    def __init__(self, *, count: int | None = None, fraction: float | None = None) -> None:
        self.count = count
        self.fraction = fraction

    @classmethod
    def combination_problems(cls, params: dict[str, Any]) -> list[str]:
        return _exactly_one(params, "count", "fraction")

    def _select(self, data: InteractionData, train: np.ndarray, generator: torch.Generator) -> np.ndarray:
        return random_rows(train, self.count, self.fraction, generator)


class FlipLabels(RandomInteractions):
    """Random training interactions whose labels are flipped in the original's data (IFRU)."""

    description = "random training interactions with flipped labels (noisy/poisoned data; IFRU protocol)"
    flips_labels = True


class Users(InteractionSelector):
    """Every training interaction of some users: explicit ids or ``n_users`` chosen by ``order``.

    ``users`` are dense ids of the prepared data. ``order`` picks the
    ``n_users`` users at random, or the most / least active by number of
    training interactions (ties broken by the smaller id), CURE4Rec's
    ``core`` / ``edge`` selections.
    """

    description = "all training interactions of the given (or n random / most / least active) users"
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
    def combination_problems(cls, params: dict[str, Any]) -> list[str]:
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
