"""The recommendation split: 60/20/20 rows, cold rows dropped, dense ids, then the forget selection.

Two shuffles are offered (``protocol``): unlearnkit's own (a seeded
``torch.randperm``, rows of each part in data order) and the one of IFRU's
official preprocessing (``baiyimeng/IFRU``, ``_data_process.py``: NumPy's
legacy generator seeded with ``seed`` shuffles the row indices, parts are cut
at ``int(n * 0.6)`` and ``int(n * 0.8)``, rows stay in shuffled order). With
``protocol="ifru"``, ``seed=1024`` and the forget selector
``FlipLabels(fraction=..., order="last")`` the split and the flipped rows
are those of IFRU's preprocessing applied to the same rows.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
import torch

from unlearnkit.data.recsys.interactions import InteractionData
from unlearnkit.data.recsys.selectors import InteractionSelector
from unlearnkit.data.splits import Split
from unlearnkit.params import Configurable, Constraint, Interval, Options


class InteractionSplitSpec(Configurable):
    """Random train / validation / test rows, then the forget selection.

    ``protocol="unlearnkit"`` (default): rows are shuffled by
    ``torch.randperm`` seeded with ``seed``; the first
    ``round(train_fraction * n)`` train, the next
    ``round(validation_fraction * n)`` validation, the rest test; each part
    is then sorted (data order). ``protocol="ifru"``: IFRU's preprocessing,
    ``np.random.RandomState(seed).shuffle`` of the row indices, cuts at
    ``int(train_fraction * n)`` and ``int((train_fraction +
    validation_fraction) * n)``, each part kept in shuffled order (so the
    *last* training rows are the last ones of the shuffle, which IFRU
    flips). Either way validation and test keep only rows whose user *and*
    item occur in training (no cold-start rows), then ids are re-indexed
    densely over what remains (in the order of the source's ids; IFRU
    numbers them by first appearance in its shuffled training rows, which
    only permutes the embedding tables). The forget selector runs last with
    the ``torch.Generator`` seeded with ``seed`` (after the unlearnkit
    shuffle's draw; untouched by the IFRU shuffle); if it flips labels, the
    returned data carries the flipped labels.
    """

    description = "seeded random train / validation / test rows (unlearnkit's or IFRU's protocol), cold rows dropped, ids re-indexed"

    parameter_constraints: ClassVar[dict[str, Constraint]] = {
        "train_fraction": Interval(float, 0.0, 1.0, "neither"),
        "validation_fraction": Interval(float, 0.0, 1.0, "neither"),
        "seed": Interval(int, 0, None),
        "protocol": Options(("unlearnkit", "ifru")),
    }

    def __init__(
        self,
        *,
        train_fraction: float = 0.6,
        validation_fraction: float = 0.2,
        seed: int = 0,
        protocol: str = "unlearnkit",
    ) -> None:
        self.train_fraction = train_fraction
        self.validation_fraction = validation_fraction
        self.seed = seed
        self.protocol = protocol

    @classmethod
    def combination_problems(cls, params: Mapping[str, Any]) -> list[str]:
        problems = []
        if params["train_fraction"] + params["validation_fraction"] >= 1.0:
            problems.append("train_fraction + validation_fraction must be < 1 (the rest is test)")
        if params["protocol"] == "ifru" and params["seed"] >= 2**32:
            problems.append(f"protocol 'ifru' seeds NumPy's legacy generator, which needs seed < 2**32; got {params['seed']}")
        return problems

    def _parts(self, n: int, generator: torch.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Train, validation and test row indices before the cold-row filter."""
        if self.protocol == "ifru":
            order = np.arange(n)
            np.random.RandomState(self.seed).shuffle(order)  # IFRU: np.random.seed(1024); np.random.shuffle(idx)
            n_train = int(n * self.train_fraction)
            n_seen = int(n * (self.train_fraction + self.validation_fraction))
            return order[:n_train], order[n_train:n_seen], order[n_seen:]
        order = torch.randperm(n, generator=generator).numpy()
        n_train = round(self.train_fraction * n)
        n_validation = round(self.validation_fraction * n)
        return (
            np.sort(order[:n_train]),
            np.sort(order[n_train : n_train + n_validation]),
            np.sort(order[n_train + n_validation :]),
        )

    def build(self, data: InteractionData, selector: InteractionSelector) -> tuple[InteractionData, Split]:
        """The prepared data (compacted, labels as trained) and its split; deterministic in ``seed``."""
        self.validate_params()
        generator = torch.Generator().manual_seed(self.seed)
        train, validation, test = self._parts(len(data), generator)
        seen_users = np.zeros(data.n_users, dtype=bool)
        seen_items = np.zeros(data.n_items, dtype=bool)
        seen_users[data.user[train]] = True
        seen_items[data.item[train]] = True

        def warm(rows: np.ndarray) -> np.ndarray:
            kept: np.ndarray = rows[seen_users[data.user[rows]] & seen_items[data.item[rows]]]
            return kept

        validation, test = warm(validation), warm(test)
        kept = np.concatenate([train, validation, test])
        compact = data.compact(kept)
        # Row r of `compact` is row kept[r] of `data`: train first, then validation, then test.
        train_rows = np.arange(train.size)
        validation_rows = np.arange(train.size, train.size + validation.size)
        test_rows = np.arange(train.size + validation.size, kept.size)
        selection = selector.select(compact, train_rows, generator)
        if selection.flip_labels:
            compact = compact.with_flipped_labels(selection.rows)
        return compact, Split(len(compact), train_rows, selection.rows, validation_rows, test_rows)
