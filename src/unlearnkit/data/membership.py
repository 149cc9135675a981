"""Splits and forget sets given from outside: explicit membership instead of a seeded recipe.

* :class:`MembershipSplit` takes train / validation / test indices as they
  are (the request path: your training data, then your validation data).
* :class:`SplitFile` (``split = { name = "file", path = "split.npz" }``)
  reads them from a file produced elsewhere, so a benchmark can run on
  someone else's split.
* :class:`ForgetIds` forgets explicit training indices (the in-memory form
  of the ``index_file`` selector).

A split file is an ``.npz`` with integer arrays ``train``, ``validation`` and
``test``, or a ``.json`` object with those three lists; indices are rows of
the dataset as loaded. ``validation`` and ``test`` may be empty; the three
must not overlap.
"""

from __future__ import annotations

import json
import os
from typing import Any, ClassVar

import numpy as np
import torch

from unlearnkit.data.dataset import ClassificationData
from unlearnkit.data.ids import FileBacked, check_ids
from unlearnkit.data.selectors import ForgetSelection, ForgetSelector
from unlearnkit.data.splits import Split
from unlearnkit.data.splitting import split_with_selection
from unlearnkit.errors import InvalidParameterError
from unlearnkit.params import Configurable, Constraint, Interval, IntList, Text

SPLIT_PARTS = ("train", "validation", "test")


def read_membership(path: str) -> dict[str, np.ndarray]:
    """``train``/``validation``/``test`` index arrays from an ``.npz`` or ``.json`` split file (format only)."""
    if not os.path.isfile(path):
        raise InvalidParameterError(f"split file {path!r} does not exist")
    if path.endswith(".npz"):
        try:
            with np.load(path, allow_pickle=False) as archive:
                arrays = {name: archive[name] for name in archive.files}
        except ValueError as error:
            raise InvalidParameterError(f"{path}: not a plain .npz of integer arrays ({error})") from None
    elif path.endswith(".json"):
        with open(path, encoding="utf-8") as handle:
            try:
                loaded = json.load(handle)
            except json.JSONDecodeError as error:
                raise InvalidParameterError(f"{path}: not valid JSON ({error})") from None
        if not isinstance(loaded, dict):
            raise InvalidParameterError(f"{path}: expected an object with lists {list(SPLIT_PARTS)}")
        arrays = {name: np.asarray(value) for name, value in loaded.items()}
    else:
        raise InvalidParameterError(f"split file {path!r}: expected a .npz or .json file")
    missing = [part for part in SPLIT_PARTS if part not in arrays]
    extra = sorted(set(arrays) - set(SPLIT_PARTS))
    if missing or extra:
        raise InvalidParameterError(f"{path}: needs exactly the arrays {list(SPLIT_PARTS)}; missing {missing}, unexpected {extra}")
    return {part: arrays[part] for part in SPLIT_PARTS}


def check_membership(parts: dict[str, Any], n: int, where: str, unit: str) -> dict[str, np.ndarray]:
    """Validated, sorted membership arrays over ``range(n)``: train not empty, no index in two parts."""
    checked = {
        part: check_ids(parts[part], n, f"{where}: {part}", what=unit, allow_empty=part != "train") for part in SPLIT_PARTS
    }
    for i, a in enumerate(SPLIT_PARTS):
        for b in SPLIT_PARTS[i + 1 :]:
            both = np.intersect1d(checked[a], checked[b])
            if both.size:
                raise InvalidParameterError(
                    f"{where}: {both.size} {unit}(s) are in both {a} and {b} (e.g. {both[:5].tolist()})"
                )
    return checked


class MembershipSplit:
    """Train / validation / test indices as given (already validated by :func:`check_membership`)."""

    def __init__(self, train: np.ndarray, validation: np.ndarray, test: np.ndarray) -> None:
        self.train = train
        self.validation = validation
        self.test = test

    def get_params(self) -> dict[str, Any]:
        return {"train": int(self.train.size), "validation": int(self.validation.size), "test": int(self.test.size)}

    def build(self, data: ClassificationData, selector: ForgetSelector) -> Split:
        # The selection reads no randomness from a fixed id list; a generator keeps the selector contract.
        selection = selector.select(data, self.train, torch.Generator().manual_seed(0))
        return split_with_selection(len(data), self.train, self.validation, self.test, selection)


class SplitFile(Configurable, FileBacked):
    """Train / validation / test membership read from a file (see the module docstring); ``seed`` seeds the forget selection."""

    description: ClassVar[str] = "train/validation/test indices from an .npz or .json file produced elsewhere"
    parameter_constraints: ClassVar[dict[str, Constraint]] = {"path": Text(), "seed": Interval(int, 0, None)}

    def __init__(self, *, path: str = "split.npz", seed: int = 0) -> None:
        self.path = path
        self.seed = seed

    def build(self, data: ClassificationData, selector: ForgetSelector) -> Split:
        self.validate_params()
        parts = check_membership(read_membership(self.path), len(data), self.path, "index")
        selection = selector.select(data, parts["train"], torch.Generator().manual_seed(self.seed))
        return split_with_selection(len(data), parts["train"], parts["validation"], parts["test"], selection)

    def describe(self) -> dict[str, Any]:
        return self.get_params()


class ForgetIds(ForgetSelector):
    """Explicit training indices (validated by the caller with :func:`~unlearnkit.data.ids.check_ids`)."""

    description: ClassVar[str] = "explicit training indices"
    defines_distribution: ClassVar[bool] = False
    parameter_constraints: ClassVar[dict[str, Constraint]] = {"ids": IntList()}

    def __init__(self, *, ids: list[int]) -> None:
        self.ids = ids

    def _select(self, data: ClassificationData, train: np.ndarray, generator: torch.Generator) -> ForgetSelection:
        ids = np.asarray(self.ids, dtype=np.int64)
        outside = np.setdiff1d(ids, train)
        if outside.size:
            raise InvalidParameterError(f"{outside.size} forget indices are not training samples (e.g. {outside[:5].tolist()})")
        return ForgetSelection(np.sort(ids), None)
