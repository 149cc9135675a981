"""Interaction data, the MovieLens-100K source, the split protocol and the forget selectors."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
import torch

from unlearnkit.data.recsys import (
    FlipLabels,
    InteractionData,
    InteractionSelector,
    InteractionSplitSpec,
    MovieLens100k,
    RandomInteractions,
    SyntheticInteractions,
    Users,
    k_core,
)
from unlearnkit.data.recsys import sources as sources_module
from unlearnkit.errors import DataUnavailableError, InvalidParameterError, SplitError


def small_data() -> InteractionData:
    return SyntheticInteractions(n_users=60, n_items=40, n_rows=1200, seed=3).load()


def test_interaction_data_rejects_bad_rows() -> None:
    with pytest.raises(ValueError, match="user ids"):
        InteractionData("x", [0, 3], [0, 1], [1, 0], n_users=3, n_items=2)
    with pytest.raises(ValueError, match="labels must be 0 or 1"):
        InteractionData("x", [0, 1], [0, 1], [1, 2], n_users=2, n_items=2)
    with pytest.raises(ValueError, match="same length"):
        InteractionData("x", [0, 1], [0], [1, 0], n_users=2, n_items=2)


def test_k_core_is_iterative() -> None:
    # A 2x2 block plus a chain: dropping user 3 leaves item 2 with one row,
    # dropping that leaves user 2 with one row. A single pass would keep both rows of user 2.
    user = np.array([0, 0, 1, 1, 2, 2, 3])
    item = np.array([0, 1, 0, 1, 0, 2, 2])
    assert k_core(user, item, 2).tolist() == [True, True, True, True, False, False, False]
    assert k_core(user, item, 1).all()


def test_synthetic_is_deterministic_without_duplicate_pairs() -> None:
    a, b = small_data(), small_data()
    assert a.fingerprint == b.fingerprint
    assert len(a) == 1200
    assert np.unique(a.user * a.n_items + a.item).size == len(a)
    assert 0.3 < a.label.mean() < 0.7
    assert SyntheticInteractions(n_users=60, n_items=40, n_rows=1200, seed=4).load().fingerprint != a.fingerprint


def test_split_protocol() -> None:
    data, split = InteractionSplitSpec(seed=1).build(small_data(), RandomInteractions(count=5))
    train = split.train
    assert abs(train.size - 0.6 * 1200) <= 1
    assert split.validation.size <= 0.2 * 1200 + 1 and split.test.size <= 0.2 * 1200 + 1
    for rows in (split.validation, split.test):
        assert np.isin(data.user[rows], data.user[train]).all()
        assert np.isin(data.item[rows], data.item[train]).all()
    # dense ids: every id occurs in training
    assert np.unique(data.user[train]).size == data.n_users
    assert np.unique(data.item[train]).size == data.n_items
    again, split_again = InteractionSplitSpec(seed=1).build(small_data(), RandomInteractions(count=5))
    assert again.fingerprint == data.fingerprint and np.array_equal(split_again.forget, split.forget)


def test_flip_labels_flips_exactly_the_forget_rows() -> None:
    source = small_data()
    clean, clean_split = InteractionSplitSpec(seed=2).build(source, RandomInteractions(fraction=0.05))
    flipped, split = InteractionSplitSpec(seed=2).build(source, FlipLabels(fraction=0.05))
    assert np.array_equal(clean_split.forget, split.forget)
    changed = np.flatnonzero(clean.label != flipped.label)
    assert np.array_equal(changed, split.forget)
    assert np.array_equal(np.flatnonzero(flipped.flipped), split.forget)
    assert clean.flipped is None


def test_users_selector_takes_all_their_training_rows() -> None:
    data, split = InteractionSplitSpec(seed=0).build(small_data(), Users(n_users=3, order="most_active"))
    users = np.unique(data.user[split.forget])
    assert users.size == 3
    in_train = split.train[np.isin(data.user[split.train], users)]
    assert np.array_equal(np.sort(in_train), split.forget)
    activity = np.bincount(data.user[split.train], minlength=data.n_users)
    assert activity[users].min() >= np.sort(activity)[-3]


class _Outside(InteractionSelector):
    description = "returns validation rows (a bug)"

    def _select(self, data, train, generator):
        return np.array([train.max() + 1])


class _Nothing(InteractionSelector):
    description = "returns nothing"

    def _select(self, data, train, generator):
        return np.zeros(0, dtype=np.int64)


@pytest.mark.parametrize(
    ("selector", "error", "message"),
    [
        (Users(users=[10_000]), InvalidParameterError, "out of range"),
        (Users(n_users=10_000), InvalidParameterError, "every one of"),
        (RandomInteractions(count=10_000), InvalidParameterError, "would forget all"),
        (_Outside(), SplitError, "not training rows"),
        (_Nothing(), SplitError, "must not be empty"),
    ],
)
def test_bad_forget_requests_fail_before_training(selector: InteractionSelector, error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        InteractionSplitSpec(seed=0).build(small_data(), selector)


def test_selection_of_every_training_row_is_refused() -> None:
    data, split = InteractionSplitSpec(seed=0).build(small_data(), RandomInteractions(count=1))
    every_user = np.unique(data.user[split.train]).tolist()
    with pytest.raises(SplitError, match="nothing would be retained"):
        Users(users=every_user).select(data, split.train, torch.Generator().manual_seed(0))


def test_selector_parameter_combinations() -> None:
    with pytest.raises(InvalidParameterError, match="exactly one"):
        FlipLabels(count=3, fraction=0.1).validate_params()
    with pytest.raises(InvalidParameterError, match="'order' applies only"):
        Users(users=[1], order="most_active").validate_params()


def test_movielens_missing_package_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "recbole" else real(name, *a))
    with pytest.raises(DataUnavailableError, match=r"pip install --no-deps recbole==1\.2\.1"):
        sources_module.read_movielens100k()


@pytest.mark.skipif(importlib.util.find_spec("recbole") is None, reason="recbole 1.2.1 wheel not installed")
def test_movielens100k_counts() -> None:
    raw = MovieLens100k(core=0).load()
    assert (raw.n_users, raw.n_items, len(raw)) == (943, 1682, 100_000)
    assert raw.label.sum() == 34_174 + 21_201  # ratings 4 and 5
    cored = MovieLens100k().load()
    assert (cored.n_users, cored.n_items, len(cored)) == (943, 1349, 99_287)
