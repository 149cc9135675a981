"""Recommendation splits and forget sets given from outside (files, or explicit ids on the request path).

* :class:`InteractionMembershipSplit` keeps the data as it is (no
  re-indexing, no cold-row filtering) and takes train / validation / test
  rows as given: the request path (your own model's ids must stay yours).
* :class:`InteractionSplitFile` (``split = { name = "file", path = ... }``)
  reads that membership from an ``.npz``/``.json`` file with ``train``,
  ``validation`` and ``test`` row indices of the dataset as loaded (e.g. the
  output of another project's preprocessing); rows are used as given.
* :class:`RowIds` forgets explicit training rows; :class:`InteractionFile`
  and :class:`UserFile` read training rows / user ids from an id file (one
  integer per line, or ``.npy``). With a file split the ids are the loaded
  dataset's; with the default split they are those of the prepared
  (re-indexed) data, as for the ``users`` and ``interactions`` selectors.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import torch

from unlearnkit.data.ids import FileBacked, check_ids, read_id_file
from unlearnkit.data.membership import check_membership, read_membership
from unlearnkit.data.recsys.interactions import InteractionData
from unlearnkit.data.recsys.selectors import InteractionSelector
from unlearnkit.data.splits import Split
from unlearnkit.errors import InvalidParameterError
from unlearnkit.params import Configurable, Constraint, Interval, IntList, Text


def split_rows(
    data: InteractionData, train: np.ndarray, validation: np.ndarray, test: np.ndarray,
    selector: InteractionSelector, generator: torch.Generator,
) -> tuple[InteractionData, Split]:
    """The data (labels flipped when the selector asks) and its split, rows as given."""
    selection = selector.select(data, train, generator)
    prepared = data.with_flipped_labels(selection.rows) if selection.flip_labels else data
    return prepared, Split(len(data), train, selection.rows, validation, test)


class InteractionMembershipSplit:
    """Train / validation / test rows as given (already validated by :func:`check_membership`)."""

    def __init__(self, train: np.ndarray, validation: np.ndarray, test: np.ndarray) -> None:
        self.train = train
        self.validation = validation
        self.test = test

    def get_params(self) -> dict[str, int]:
        return {"train": int(self.train.size), "validation": int(self.validation.size), "test": int(self.test.size)}

    def build(self, data: InteractionData, selector: InteractionSelector) -> tuple[InteractionData, Split]:
        return split_rows(data, self.train, self.validation, self.test, selector, torch.Generator().manual_seed(0))


class InteractionSplitFile(Configurable, FileBacked):
    """Train / validation / test rows read from a file; ids are kept; ``seed`` seeds a random forget selection."""

    description: ClassVar[str] = "train/validation/test rows from an .npz or .json file produced elsewhere (ids kept as loaded)"
    parameter_constraints: ClassVar[dict[str, Constraint]] = {"path": Text(), "seed": Interval(int, 0, None)}

    def __init__(self, *, path: str = "split.npz", seed: int = 0) -> None:
        self.path = path
        self.seed = seed

    def build(self, data: InteractionData, selector: InteractionSelector) -> tuple[InteractionData, Split]:
        self.validate_params()
        parts = check_membership(read_membership(self.path), len(data), self.path, "row")
        generator = torch.Generator().manual_seed(self.seed)
        return split_rows(data, parts["train"], parts["validation"], parts["test"], selector, generator)


class RowIds(InteractionSelector):
    """Explicit training rows (validated by the caller with :func:`~unlearnkit.data.ids.check_ids`)."""

    description: ClassVar[str] = "explicit training rows"
    parameter_constraints: ClassVar[dict[str, Constraint]] = {"rows": IntList()}

    def __init__(self, *, rows: list[int]) -> None:
        self.rows = rows

    def _select(self, data: InteractionData, train: np.ndarray, generator: torch.Generator) -> np.ndarray:
        return np.asarray(self.rows, dtype=np.int64)


class InteractionFile(InteractionSelector, FileBacked):
    """Training rows listed in a file (one row index per line, or ``.npy``)."""

    description: ClassVar[str] = "training rows listed in a text (one per line) or .npy file"
    parameter_constraints: ClassVar[dict[str, Constraint]] = {"path": Text()}

    def __init__(self, *, path: str = "forget_rows.txt") -> None:
        self.path = path

    def _select(self, data: InteractionData, train: np.ndarray, generator: torch.Generator) -> np.ndarray:
        rows = check_ids(read_id_file(self.path, what="row"), len(data), self.path, what="row")
        outside = np.setdiff1d(rows, train)
        if outside.size:
            raise InvalidParameterError(f"{self.path}: {outside.size} rows are not training rows (e.g. {outside[:5].tolist()})")
        return rows


class UserFile(InteractionSelector, FileBacked):
    """Every training interaction of the users listed in a file (one user id per line, or ``.npy``)."""

    description: ClassVar[str] = "all training interactions of the users listed in a text or .npy file"
    parameter_constraints: ClassVar[dict[str, Constraint]] = {"path": Text()}

    def __init__(self, *, path: str = "forget_users.txt") -> None:
        self.path = path

    def _select(self, data: InteractionData, train: np.ndarray, generator: torch.Generator) -> np.ndarray:
        users = check_ids(read_id_file(self.path, what="user id"), data.n_users, self.path, what="user id")
        active = np.unique(data.user[train])
        idle = np.setdiff1d(users, active)
        if idle.size:
            raise InvalidParameterError(f"{self.path}: users {idle[:5].tolist()} have no training interactions")
        return train[np.isin(data.user[train], users)]
