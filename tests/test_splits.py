from __future__ import annotations

import numpy as np
import pytest

from unlearnkit.data import SELECTORS, Split, SplitSpec
from unlearnkit.errors import SplitError


def _split(**overrides):
    base = dict(n_samples=10, train=[0, 1, 2, 3, 4, 5], forget=[1, 2], validation=[6, 7], test=[8, 9])
    base.update(overrides)
    return Split(**base)


def test_valid_split_and_retain() -> None:
    split = _split()
    np.testing.assert_array_equal(split.retain, [0, 3, 4, 5])
    assert split.describe() == {"train": 6, "retain": 4, "forget": 2, "validation": 2, "test": 2}


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"train": [0, 1, 2, 3, 4, 12]}, "1 train indices outside \\[0, 10\\)"),
        ({"test": [8, 8, 9]}, "1 duplicate test indices"),
        ({"forget": [1, 2, 7]}, "1 forget indices are not in train"),
        ({"validation": [5, 6, 7]}, "1 indices are in both train and validation"),
        ({"test": [4, 5, 8, 9]}, "2 indices are in both train and test"),
        ({"forget": [0, 1, 2, 3, 4, 5]}, "the forget set holds every training sample"),
        ({"heldout_forget": [3]}, "1 indices are in both train and heldout_forget"),
        ({"forget_distribution": [1]}, "forget_distribution must contain every forget index"),
    ],
)
def test_split_violations_are_named_and_counted(overrides, message) -> None:
    with pytest.raises(SplitError, match=message):
        _split(**overrides)


def test_split_rejects_float_indices() -> None:
    with pytest.raises(SplitError, match="integer indices"):
        _split(train=[0.0, 1.0])


def test_identity_split_holds_out_unseen_photos_of_forgotten_person(tiny_data) -> None:
    split = SplitSpec(test_per_group=3, seed=0).build(tiny_data, SELECTORS["groups"](groups=[5]))
    groups = tiny_data.groups.numpy()
    assert set(groups[split.forget]) == {5}
    assert (groups[split.retain] != 5).all()
    assert (groups[split.test] != 5).all() and (groups[split.validation] != 5).all()
    assert set(groups[split.heldout_forget]) == {5}
    assert len(split.heldout_forget) >= 3
    np.testing.assert_array_equal(split.forget_distribution, split.forget)


def test_photo_level_split_keeps_people(tiny_data) -> None:
    split = SplitSpec(test_per_group=3, seed=0).build(tiny_data, SELECTORS["group_samples"](groups=[2, 3], fraction=0.5))
    groups = tiny_data.groups.numpy()
    assert set(groups[split.forget]) == {2, 3}
    assert {2, 3} <= set(groups[split.retain])  # the people stay recognisable from other photos
    assert set(np.setdiff1d(split.forget_distribution, split.forget)) == set(split.forget_distribution) - set(split.forget)


def test_split_is_deterministic_in_seed(tiny_data) -> None:
    selector = SELECTORS["random"](fraction=0.1)
    a = SplitSpec(seed=3).build(tiny_data, selector)
    b = SplitSpec(seed=3).build(tiny_data, selector)
    c = SplitSpec(seed=4).build(tiny_data, selector)
    np.testing.assert_array_equal(a.forget, b.forget)
    np.testing.assert_array_equal(a.test, b.test)
    assert not np.array_equal(a.forget, c.forget)


def test_train_size_subsamples_stratified(tiny_data) -> None:
    split = SplitSpec(train_size=40, seed=0).build(tiny_data, SELECTORS["random"](count=4))
    assert 38 <= len(split.train) <= 42
    counts = np.bincount(tiny_data.y.numpy()[split.train])
    assert counts.max() - counts.min() <= 1
