"""Building a :class:`Split` from a dataset, a split recipe and a forget selector."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from unlearnkit.data.dataset import ClassificationData
from unlearnkit.data.selectors import ForgetSelection, ForgetSelector, take_random, take_stratified
from unlearnkit.data.splits import Split
from unlearnkit.params import Configurable, Interval, NoneOr


def split_with_selection(
    n_samples: int, train: np.ndarray, validation: np.ndarray, test: np.ndarray, selection: ForgetSelection
) -> Split:
    """The split of ``n_samples`` samples once the forget selection among ``train`` is known."""
    if selection.distribution is None:
        return Split(n_samples, train, selection.indices, validation, test)
    in_dist = selection.distribution
    # Unseen samples of the forget distribution leave validation and test:
    # they form the held-out set the "unlearning" goal is judged on, and
    # model selection on validation must not reward remembering them.
    heldout = np.sort(np.concatenate([test[in_dist[test]], validation[in_dist[validation]]]))
    return Split(
        n_samples,
        train,
        selection.indices,
        validation[~in_dist[validation]],
        test[~in_dist[test]],
        heldout_forget=heldout,
        forget_distribution=train[in_dist[train]],
    )


class SplitSpec(Configurable):
    """How to carve test, validation and train sets out of a dataset.

    * ``test_per_group``: keep this many samples of every group (identity) for
      test, so every person stays represented (identity split); otherwise
      ``test_fraction`` of each class goes to test unless the dataset has a
      predefined test set.
    * ``validation_fraction`` of the remaining samples (class-stratified) is
      validation; the rest is the training pool.
    * ``train_size`` subsamples the pool (class-stratified), e.g. to make a
      model memorise a Fashion-MNIST subset and keep retraining within minutes.
    * ``test_size`` subsamples the test set the same way (cheaper evaluation).
    * ``seed`` fixes the split and the forget selection; model seeds vary
      separately so seed-to-seed noise is measured on one fixed forget set.
    """

    description = "seeded test / validation / train carving (class-stratified, or per identity)"

    parameter_constraints = {
        "test_fraction": Interval(float, 0.0, 1.0, "neither"),
        "test_per_group": NoneOr(Interval(int, 1, None)),
        "validation_fraction": Interval(float, 0.0, 1.0, "left"),
        "train_size": NoneOr(Interval(int, 2, None)),
        "test_size": NoneOr(Interval(int, 1, None)),
        "seed": Interval(int, 0, None),
    }

    def __init__(
        self,
        *,
        test_fraction: float = 0.2,
        test_per_group: int | None = None,
        validation_fraction: float = 0.1,
        train_size: int | None = None,
        test_size: int | None = None,
        seed: int = 0,
    ) -> None:
        self.test_fraction = test_fraction
        self.test_per_group = test_per_group
        self.validation_fraction = validation_fraction
        self.train_size = train_size
        self.test_size = test_size
        self.seed = seed

    def build(self, data: ClassificationData, selector: ForgetSelector) -> Split:
        """Split ``data`` and select the forget set; deterministic in ``seed``."""
        self.validate_params()
        generator = torch.Generator().manual_seed(self.seed)
        labels = data.y.numpy()
        groups = data.groups.numpy()
        everything = np.arange(len(data))
        if data.test_mask is not None:
            test = everything[data.test_mask]
        elif self.test_per_group is not None:
            test = np.concatenate(
                [
                    take_random(everything[groups == g], min(self.test_per_group, int((groups == g).sum()) - 1), generator)
                    for g in np.unique(groups)
                ]
            )
        else:
            test = take_stratified(everything, labels, self.test_fraction, generator)
        if self.test_size is not None and self.test_size < len(test):
            test = take_stratified(test, labels[test], self.test_size / len(test), generator)
        pool = np.setdiff1d(everything, test if data.test_mask is None else everything[data.test_mask])
        validation = (
            take_stratified(pool, labels[pool], self.validation_fraction, generator)
            if self.validation_fraction > 0
            else np.zeros(0, np.int64)
        )
        train = np.setdiff1d(pool, validation)
        if self.train_size is not None and self.train_size < len(train):
            train = take_stratified(train, labels[train], self.train_size / len(train), generator)
        return split_with_selection(len(data), train, validation, test, selector.select(data, train, generator))

    def describe(self) -> dict[str, Any]:
        return self.get_params()
