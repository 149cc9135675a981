"""The recommendation split protocol (IFRU): seeded 60/20/20 rows, cold rows dropped, dense ids."""

from __future__ import annotations

import numpy as np
import torch

from unlearnkit.data.recsys.interactions import InteractionData
from unlearnkit.data.recsys.selectors import InteractionSelector
from unlearnkit.data.splits import Split
from unlearnkit.params import Configurable, Interval


class InteractionSplitSpec(Configurable):
    """Random train / validation / test rows, then the forget selection.

    Rows are shuffled with ``seed``: the first ``train_fraction`` train, the
    next ``validation_fraction`` validation, the rest test. Validation and
    test keep only rows whose user *and* item occur in training (no
    cold-start rows), then ids are re-indexed densely over what remains. The
    forget selector runs last with the same generator; if it flips labels,
    the returned data carries the flipped labels.
    """

    description = "seeded random train / validation / test rows, cold rows dropped, ids re-indexed (IFRU)"

    parameter_constraints = {
        "train_fraction": Interval(float, 0.0, 1.0, "neither"),
        "validation_fraction": Interval(float, 0.0, 1.0, "neither"),
        "seed": Interval(int, 0, None),
    }

    def __init__(self, *, train_fraction: float = 0.6, validation_fraction: float = 0.2, seed: int = 0) -> None:
        self.train_fraction = train_fraction
        self.validation_fraction = validation_fraction
        self.seed = seed

    @classmethod
    def combination_problems(cls, params: dict) -> list[str]:
        if params["train_fraction"] + params["validation_fraction"] >= 1.0:
            return ["train_fraction + validation_fraction must be < 1 (the rest is test)"]
        return []

    def build(self, data: InteractionData, selector: InteractionSelector) -> tuple[InteractionData, Split]:
        """The prepared data (compacted, labels as trained) and its split; deterministic in ``seed``."""
        self.validate_params()
        generator = torch.Generator().manual_seed(self.seed)
        n = len(data)
        order = torch.randperm(n, generator=generator).numpy()
        n_train = round(self.train_fraction * n)
        n_validation = round(self.validation_fraction * n)
        train = np.sort(order[:n_train])
        validation = np.sort(order[n_train : n_train + n_validation])
        test = np.sort(order[n_train + n_validation :])
        seen_users = np.zeros(data.n_users, dtype=bool)
        seen_items = np.zeros(data.n_items, dtype=bool)
        seen_users[data.user[train]] = True
        seen_items[data.item[train]] = True

        def warm(rows: np.ndarray) -> np.ndarray:
            return rows[seen_users[data.user[rows]] & seen_items[data.item[rows]]]

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
