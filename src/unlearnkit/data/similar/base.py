"""Similar-sample constructors: the contract and the record of what they made.

A constructor takes a dataset, the *target* rows (the samples a deletion
request will name) and a seeded ``torch.Generator``, and returns a
:class:`Construction`: the dataset with any constructed copies appended
after its original rows, and a :class:`SimilarSet` recording which row is
similar to which target. Copies carry their target's label and group.
Constructors that find neighbours among existing rows append nothing.

Where the copies go is decided by :func:`unlearnkit.data.similar.split.attach_similar`,
which puts every appended row into the training set (hence the retain set)
and never into validation or test.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Generic, TypeVar

import numpy as np
import torch
from torch import nn

from unlearnkit.data.dataset import ClassificationData
from unlearnkit.data.text.dataset import TextData
from unlearnkit.errors import InvalidParameterError
from unlearnkit.params import Configurable

SimilarData = ClassificationData | TextData
D = TypeVar("D", ClassificationData, TextData)


def modality(data: SimilarData) -> str:
    """ "image" for :class:`ClassificationData`, "text" for :class:`TextData`."""
    if isinstance(data, ClassificationData):
        return "image"
    if isinstance(data, TextData):
        return "text"
    raise InvalidParameterError(f"similar-sample constructors take ClassificationData or TextData; got {type(data).__name__}")


def _index_array(values: np.ndarray | list[int], name: str, n: int) -> np.ndarray:
    array = np.asarray(values)
    if array.size == 0:
        return np.zeros(0, np.int64)
    if array.ndim != 1 or not np.issubdtype(array.dtype, np.integer):
        raise InvalidParameterError(f"{name} must be a 1-D array of integer row indices; got dtype {array.dtype}, shape {array.shape}")
    if int(array.min()) < 0 or int(array.max()) >= n:
        raise InvalidParameterError(f"{name} must lie in [0, {n}); got values from {int(array.min())} to {int(array.max())}")
    if np.unique(array).size != array.size:
        raise InvalidParameterError(f"{name} must not repeat a row")
    return np.sort(array.astype(np.int64))


@dataclass(frozen=True, eq=False)
class SimilarSet:
    """Which rows are similar to which target (the record kept in the store).

    Pair ``i`` says row ``rows[i]`` is similar to target ``target_of[i]`` with
    closeness ``score[i]`` (constructor-specific, higher = closer; each
    constructor's docstring says what it is). Rows ``>= n_original`` are
    constructed copies; rows below are existing samples (embedding neighbours).
    A neighbour may belong to several targets; a pair appears once.
    """

    constructor: str
    params: Mapping[str, Any]
    n_original: int
    targets: np.ndarray
    rows: np.ndarray
    target_of: np.ndarray
    score: np.ndarray
    fingerprint: str = field(init=False)

    def __post_init__(self) -> None:
        m = self.rows.shape[0]
        for name in ("rows", "target_of", "score"):
            if getattr(self, name).shape != (m,):
                raise ValueError(f"SimilarSet.{name} must have shape ({m},)")
        if self.rows.dtype != np.int64 or self.target_of.dtype != np.int64 or self.targets.dtype != np.int64:
            raise ValueError("SimilarSet index arrays must be int64")
        if not np.isin(self.target_of, self.targets).all():
            raise ValueError("SimilarSet.target_of names rows that are not targets")
        if np.isin(self.rows, self.targets).any():
            raise ValueError("a target cannot be recorded as similar to a target")
        pairs = self.rows * (int(self.rows.max(initial=0)) + 1) + self.target_of
        if np.unique(pairs).size != m:
            raise ValueError("SimilarSet holds a (row, target) pair twice")
        digest = hashlib.sha256(f"{self.constructor}|{sorted(self.params.items())!r}|{self.n_original}".encode())
        for array in (self.targets, self.rows, self.target_of, self.score.astype(np.float64)):
            digest.update(np.ascontiguousarray(array).tobytes())
        object.__setattr__(self, "fingerprint", digest.hexdigest()[:16])

    @property
    def copies(self) -> np.ndarray:
        """The constructed rows (appended after the original data), sorted."""
        return np.unique(self.rows[self.rows >= self.n_original])

    def similar_to(self, target: int) -> np.ndarray:
        """The rows similar to ``target``, in the order they were recorded."""
        if target not in self.targets:
            raise InvalidParameterError(f"row {target} is not one of the {self.targets.size} targets of this SimilarSet")
        rows: np.ndarray = self.rows[self.target_of == target]
        return rows

    def neighbourhood(self, targets: np.ndarray | None = None, min_score: float | None = None) -> np.ndarray:
        """Union of the rows similar to ``targets`` (all targets when None) with score >= ``min_score``, sorted."""
        keep = np.ones(self.rows.size, bool) if targets is None else np.isin(self.target_of, np.asarray(targets))
        if min_score is not None:
            keep &= self.score >= min_score
        return np.unique(self.rows[keep])

    def counts(self) -> np.ndarray:
        """Number of similar rows per target, aligned with ``targets``."""
        return np.array([(self.target_of == t).sum() for t in self.targets], dtype=np.int64)

    def describe(self) -> dict[str, Any]:
        counts = self.counts()
        return {
            "constructor": self.constructor,
            "params": dict(self.params),
            "fingerprint": self.fingerprint,
            "targets": int(self.targets.size),
            "similar_rows": int(np.unique(self.rows).size),
            "constructed_rows": int(self.copies.size),
            "per_target_min": int(counts.min()) if counts.size else 0,
            "per_target_max": int(counts.max()) if counts.size else 0,
            "mean_score": float(self.score.mean()) if self.score.size else None,
        }


@dataclass(frozen=True, eq=False)
class Construction(Generic[D]):
    """The (possibly extended) dataset and the record of similar rows."""

    data: D
    similar: SimilarSet


def append_images(data: ClassificationData, images: torch.Tensor, sources: np.ndarray) -> ClassificationData:
    """``data`` with ``images`` appended; image ``i`` takes the label and group of row ``sources[i]``."""
    index = torch.as_tensor(sources, dtype=torch.long)
    test_mask = None if data.test_mask is None else np.r_[data.test_mask, np.zeros(len(sources), bool)]
    return ClassificationData(
        data.name,
        torch.cat([data.x, images.to(data.x.dtype)]),
        torch.cat([data.y, data.y[index]]),
        torch.cat([data.groups, data.groups[index]]),
        data.n_classes,
        data.group_name,
        test_mask,
    )


class SimilarConstructor(Configurable, ABC):
    """Makes (or finds) samples similar to given targets.

    Subclasses declare ``description``, ``modalities`` ("image", "text") and
    ``appends`` (True when they construct new rows), and implement
    ``_construct``. ``construct`` validates parameters and inputs, runs it and
    checks the result against the contract.
    """

    description: ClassVar[str]
    modalities: ClassVar[frozenset[str]]
    appends: ClassVar[bool]
    name: ClassVar[str]

    @abstractmethod
    def _construct(
        self, data: Any, targets: np.ndarray, pool: np.ndarray, generator: torch.Generator, model: nn.Module | None
    ) -> Construction[Any]: ...

    def construct(
        self,
        data: D,
        targets: np.ndarray | list[int],
        *,
        pool: np.ndarray | list[int] | None = None,
        generator: torch.Generator,
        model: nn.Module | None = None,
    ) -> Construction[D]:
        """Copies of (or neighbours of) ``targets`` in ``data``.

        ``pool``: the rows neighbours may be found among (the training rows
        other than the targets); constructors that append ignore it. ``model``:
        the trained model, for encoders that read its features.
        """
        self.validate_params()
        kind = modality(data)
        if kind not in self.modalities:
            raise InvalidParameterError(
                f"similar-sample constructor {self.name!r} works on {' or '.join(sorted(self.modalities))} data; "
                f"got {kind} data {data.name!r}"
            )
        n = len(data)
        target_rows = _index_array(targets, "targets", n)
        pool_rows = np.setdiff1d(_index_array(pool if pool is not None else np.arange(n), "pool", n), target_rows)
        result = self._construct(data, target_rows, pool_rows, generator, model)
        self._check(data, result, target_rows)
        return result

    def _check(self, data: SimilarData, result: Construction[Any], targets: np.ndarray) -> None:
        """The contract every constructor must meet; a failure here is a bug in the constructor."""
        similar, extended = result.similar, result.data
        n = len(data)
        problems = []
        if not np.array_equal(similar.targets, targets):
            problems.append("the record's targets differ from the requested targets")
        if similar.n_original != n:
            problems.append(f"n_original={similar.n_original} but the input had {n} rows")
        appended = np.arange(n, len(extended))
        if not self.appends and appended.size:
            problems.append(f"{appended.size} rows appended by a constructor that only finds neighbours")
        if not np.array_equal(similar.copies, appended):
            problems.append("the appended rows and the recorded copies differ")
        copies = similar.rows >= n
        labels = extended.y
        if labels is not None and copies.any():
            copy_labels = labels[torch.as_tensor(similar.rows[copies])]
            if not torch.equal(copy_labels, labels[torch.as_tensor(similar.target_of[copies])]):
                problems.append("a copy does not carry its target's label")
        if problems:
            raise RuntimeError(f"{type(self).__name__} broke the constructor contract: " + "; ".join(problems))
