"""In-memory interaction data: (user, item, label) rows over dense ids."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class InteractionMeta:
    """What a recommender builder needs to know about a dataset."""

    name: str
    n_users: int
    n_items: int
    n_rows: int


def _int_array(values: np.ndarray, name: str, where: str) -> np.ndarray:
    array = np.asarray(values)
    if array.ndim != 1 or not np.issubdtype(array.dtype, np.integer):
        raise ValueError(f"{where}: {name} must be a 1-D integer array; got dtype {array.dtype}, shape {array.shape}")
    return np.ascontiguousarray(array.astype(np.int64))


@dataclass(frozen=True, eq=False)
class InteractionData:
    """Rows (user, item, label) with users in [0, n_users) and items in [0, n_items).

    ``label`` is 0/1 *as trained*: when a forget selector flips labels (the
    poisoned setting), the flipped values are stored here and ``flipped``
    marks those rows, so the original model, the unlearning methods and the
    metrics all read the same labels. ``raw_user``/``raw_item`` map dense ids
    back to the source's ids (None for generated data).
    """

    name: str
    user: np.ndarray
    item: np.ndarray
    label: np.ndarray
    n_users: int
    n_items: int
    flipped: np.ndarray | None = None
    raw_user: np.ndarray | None = None
    raw_item: np.ndarray | None = None
    fingerprint: str = field(init=False)

    def __post_init__(self) -> None:
        where = self.name
        for name in ("user", "item", "label"):
            object.__setattr__(self, name, _int_array(getattr(self, name), name, where))
        n = self.user.shape[0]
        if self.item.shape != (n,) or self.label.shape != (n,):
            raise ValueError(f"{where}: user, item and label must have the same length; got {n}, {self.item.size}, {self.label.size}")
        if n and (self.user.min() < 0 or self.user.max() >= self.n_users):
            raise ValueError(f"{where}: user ids must lie in [0, {self.n_users})")
        if n and (self.item.min() < 0 or self.item.max() >= self.n_items):
            raise ValueError(f"{where}: item ids must lie in [0, {self.n_items})")
        if n and not np.isin(self.label, (0, 1)).all():
            raise ValueError(f"{where}: labels must be 0 or 1")
        if self.flipped is not None:
            flipped = np.asarray(self.flipped, dtype=bool)
            if flipped.shape != (n,):
                raise ValueError(f"{where}: flipped must be a boolean mask of length {n}")
            object.__setattr__(self, "flipped", flipped)
        for name, size in (("raw_user", self.n_users), ("raw_item", self.n_items)):
            raw = getattr(self, name)
            if raw is not None and np.asarray(raw).shape != (size,):
                raise ValueError(f"{where}: {name} must have one entry per dense id ({size})")
        digest = hashlib.sha256(f"{self.n_users}:{self.n_items}".encode())
        for array in (self.user, self.item, self.label):
            digest.update(array.tobytes())
        object.__setattr__(self, "fingerprint", digest.hexdigest()[:16])

    def __len__(self) -> int:
        return int(self.user.shape[0])

    @property
    def meta(self) -> InteractionMeta:
        return InteractionMeta(self.name, self.n_users, self.n_items, len(self))

    def with_flipped_labels(self, rows: np.ndarray) -> InteractionData:
        """A copy whose labels at ``rows`` are flipped (0 <-> 1) and marked in ``flipped``."""
        label = self.label.copy()
        label[rows] = 1 - label[rows]
        flipped = np.zeros(len(self), dtype=bool) if self.flipped is None else self.flipped.copy()
        flipped[rows] = ~flipped[rows]
        return InteractionData(
            self.name, self.user, self.item, label, self.n_users, self.n_items, flipped, self.raw_user, self.raw_item
        )

    def compact(self, rows: np.ndarray) -> InteractionData:
        """Keep ``rows`` (in that order) and re-index their users and items densely."""
        rows = np.asarray(rows, dtype=np.int64)
        users, user = np.unique(self.user[rows], return_inverse=True)
        items, item = np.unique(self.item[rows], return_inverse=True)
        raw_user = users if self.raw_user is None else self.raw_user[users]
        raw_item = items if self.raw_item is None else self.raw_item[items]
        flipped = None if self.flipped is None else self.flipped[rows]
        data = InteractionData(
            self.name, user, item, self.label[rows], len(users), len(items), flipped, raw_user, raw_item
        )
        return data

    def positives(self, rows: np.ndarray) -> np.ndarray:
        """The subset of ``rows`` whose label is 1."""
        rows = np.asarray(rows, dtype=np.int64)
        positive: np.ndarray = rows[self.label[rows] == 1]
        return positive


def k_core(user: np.ndarray, item: np.ndarray, k: int) -> np.ndarray:
    """Boolean mask of rows kept by iterative k-core filtering.

    Repeatedly drops every row whose user or item has fewer than ``k`` rows
    among the rows still kept, until nothing changes. The result is the
    k-core, the largest set of rows in which every user and item has ``k``
    rows, whatever the order of the drops; so it equals IFRU's
    preprocessing, which alternates a user pass and an item pass.
    """
    keep = np.ones(user.shape[0], dtype=bool)
    if k <= 1:
        return keep
    while True:
        user_count = np.bincount(user[keep], minlength=int(user.max(initial=-1)) + 1)
        item_count = np.bincount(item[keep], minlength=int(item.max(initial=-1)) + 1)
        ok = keep & (user_count[user] >= k) & (item_count[item] >= k)
        if ok.sum() == keep.sum():
            return keep
        keep = ok
