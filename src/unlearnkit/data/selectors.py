"""Forget selectors: which training samples a deletion request names.

A selector returns the forget indices and, when the request names a whole
distribution (a class, an identity, a group), a mask of every sample of that
distribution; the split then keeps that distribution's unseen samples as the
held-out forget set the "unlearning" goal is judged on.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch

from unlearnkit.data.dataset import ClassificationData
from unlearnkit.data.ids import FileBacked, check_ids, read_id_file
from unlearnkit.errors import InvalidParameterError, SplitError
from unlearnkit.params import Boolean, Configurable, Interval, IntList, NoneOr, Text


@dataclass(frozen=True, eq=False)
class ForgetSelection:
    indices: np.ndarray
    distribution: np.ndarray | None  # bool mask over all samples, or None


def take_random(indices: np.ndarray, count: int, generator: torch.Generator) -> np.ndarray:
    order = torch.randperm(len(indices), generator=generator).numpy()
    return np.sort(indices[order[:count]])


def take_stratified(indices: np.ndarray, labels: np.ndarray, fraction: float, generator: torch.Generator) -> np.ndarray:
    """``fraction`` of each label's indices (rounded, at least one per label with any)."""
    chosen = []
    for label in np.unique(labels):
        members = indices[labels == label]
        count = max(1, int(round(fraction * len(members))))
        chosen.append(take_random(members, min(count, len(members)), generator))
    return np.sort(np.concatenate(chosen)) if chosen else np.zeros(0, np.int64)


class ForgetSelector(Configurable, ABC):
    """Chooses the forget set among the training indices."""

    description: ClassVar[str]
    defines_distribution: ClassVar[bool]

    @abstractmethod
    def _select(self, data: ClassificationData, train: np.ndarray, generator: torch.Generator) -> ForgetSelection: ...

    def select(self, data: ClassificationData, train: np.ndarray, generator: torch.Generator) -> ForgetSelection:
        self.validate_params()
        selection = self._select(data, train, generator)
        outside = np.setdiff1d(selection.indices, train)
        if outside.size:
            raise SplitError(f"{type(self).__name__} selected {outside.size} indices that are not training samples")
        if np.unique(selection.indices).size != selection.indices.size:
            raise SplitError(f"{type(self).__name__} selected duplicate indices")
        if selection.distribution is not None and not selection.distribution[selection.indices].all():
            raise SplitError(f"{type(self).__name__}: every forget sample must belong to the forget distribution")
        return selection


def _exactly_one(params: Mapping[str, Any], a: str, b: str) -> list[str]:
    if (params.get(a) is None) == (params.get(b) is None):
        return [f"give exactly one of {a!r} and {b!r}"]
    return []


class RandomSamples(ForgetSelector):
    """A random count or fraction of the training set, optionally stratified by class."""

    description = "random training samples (count or fraction; optionally class-stratified)"
    defines_distribution = False
    parameter_constraints = {
        "count": NoneOr(Interval(int, 1, None)),
        "fraction": NoneOr(Interval(float, 0.0, 1.0, "neither")),
        "stratified": Boolean(),
    }

    def __init__(self, *, count: int | None = None, fraction: float | None = None, stratified: bool = False) -> None:
        self.count = count
        self.fraction = fraction
        self.stratified = stratified

    @classmethod
    def combination_problems(cls, params: Mapping[str, Any]) -> list[str]:
        return _exactly_one(params, "count", "fraction")

    def _select(self, data: ClassificationData, train: np.ndarray, generator: torch.Generator) -> ForgetSelection:
        if self.count is not None:
            if self.count >= len(train):
                raise InvalidParameterError(f"count={self.count} would forget all {len(train)} training samples")
            count, fraction = self.count, self.count / max(len(train), 1)
        elif self.fraction is not None:
            count, fraction = max(1, int(round(self.fraction * len(train)))), self.fraction
        else:  # unreachable: select() validated that exactly one is given
            raise InvalidParameterError("give exactly one of 'count' and 'fraction'")
        if self.stratified:
            return ForgetSelection(take_stratified(train, data.y.numpy()[train], fraction, generator), None)
        return ForgetSelection(take_random(train, count, generator), None)


def _plural(unit: str) -> str:
    """"identity" -> "identities", "class" -> "classes", "group" -> "groups"."""
    if unit.endswith("y"):
        return unit[:-1] + "ies"
    return unit + "es" if unit.endswith(("s", "x")) else unit + "s"


def _pick_units(available: np.ndarray, chosen: list[int] | None, n: int | None, unit: str, generator: torch.Generator) -> np.ndarray:
    units = _plural(unit)
    if chosen is not None:
        missing = sorted(set(chosen) - set(available.tolist()))
        if missing:
            raise InvalidParameterError(f"{units} {missing} have no training samples; available: {available.min()}..{available.max()}")
        return np.asarray(sorted(chosen))
    if n is None:  # unreachable: the selectors validated that exactly one of the two is given
        raise InvalidParameterError(f"give either the {units} or how many {units} to forget")
    if n >= len(available):
        raise InvalidParameterError(f"asked to forget {n} {units} but only {len(available)} exist")
    return take_random(available, n, generator)


class WholeClasses(ForgetSelector):
    """Every training sample of the given classes."""

    description = "all training samples of the given class(es)"
    defines_distribution = True
    parameter_constraints = {"classes": IntList()}

    def __init__(self, *, classes: Sequence[int] = (0,)) -> None:
        self.classes = list(classes)

    def _select(self, data: ClassificationData, train: np.ndarray, generator: torch.Generator) -> ForgetSelection:
        labels = data.y.numpy()
        _pick_units(np.unique(labels[train]), self.classes, None, "class", generator)
        mask = np.isin(labels, self.classes)
        return ForgetSelection(train[mask[train]], mask)


class WholeGroups(ForgetSelector):
    """Every training sample of some groups (e.g. identities): explicit or n random."""

    description = "all training samples of the given (or n random) identities/groups"
    defines_distribution = True
    parameter_constraints = {"groups": NoneOr(IntList()), "n_groups": NoneOr(Interval(int, 1, None))}

    def __init__(self, *, groups: list[int] | None = None, n_groups: int | None = None) -> None:
        self.groups = groups
        self.n_groups = n_groups

    @classmethod
    def combination_problems(cls, params: Mapping[str, Any]) -> list[str]:
        return _exactly_one(params, "groups", "n_groups")

    def _select(self, data: ClassificationData, train: np.ndarray, generator: torch.Generator) -> ForgetSelection:
        groups = data.groups.numpy()
        units = _pick_units(np.unique(groups[train]), self.groups, self.n_groups, data.group_name, generator)
        mask = np.isin(groups, units)
        return ForgetSelection(train[mask[train]], mask)


class GroupSamples(ForgetSelector):
    """Some training samples of several groups; the rest of their samples stay.

    The MUFAC/DLFD photo-level setting: the people remain recognisable from
    their other photos; the forget distribution is those people's photos.
    """

    description = "a fraction of the training samples of the given (or n random) groups"
    defines_distribution = True
    parameter_constraints = {
        "groups": NoneOr(IntList()),
        "n_groups": NoneOr(Interval(int, 1, None)),
        "fraction": Interval(float, 0.0, 1.0, "neither"),
    }

    def __init__(self, *, groups: list[int] | None = None, n_groups: int | None = None, fraction: float = 0.5) -> None:
        self.groups = groups
        self.n_groups = n_groups
        self.fraction = fraction

    @classmethod
    def combination_problems(cls, params: Mapping[str, Any]) -> list[str]:
        return _exactly_one(params, "groups", "n_groups")

    def _select(self, data: ClassificationData, train: np.ndarray, generator: torch.Generator) -> ForgetSelection:
        groups = data.groups.numpy()
        units = _pick_units(np.unique(groups[train]), self.groups, self.n_groups, data.group_name, generator)
        in_units = train[np.isin(groups[train], units)]
        forget = take_stratified(in_units, groups[in_units], self.fraction, generator)
        return ForgetSelection(forget, np.isin(groups, units))


class IndexFile(ForgetSelector, FileBacked):
    """Explicit dataset indices from a .npy file or a text file (one integer per line; blank lines and # comments ignored)."""

    description = "explicit indices from a .npy or text file"
    defines_distribution = False
    parameter_constraints = {"path": Text()}

    def __init__(self, *, path: str = "forget.txt") -> None:
        self.path = path

    def _select(self, data: ClassificationData, train: np.ndarray, generator: torch.Generator) -> ForgetSelection:
        indices = check_ids(read_id_file(self.path), len(data), self.path)
        outside = np.setdiff1d(indices, train)
        if outside.size:
            raise InvalidParameterError(
                f"{self.path}: {outside.size} of {indices.size} indices are not training samples (e.g. {outside[:5].tolist()})"
            )
        return ForgetSelection(indices, None)
