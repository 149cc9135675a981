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


def official_ifru_preprocessing(user: np.ndarray, item: np.ndarray, seed: int, attack: float) -> dict[str, set[tuple[int, int]]]:
    """IFRU's ``_data_process.py`` steps after the 5-core filter, written as the official script does them.

    The script seeds NumPy's global generator; the global state is restored afterwards so no other test sees it.
    """
    n = user.size
    idx = np.arange(n)
    state = np.random.get_state()
    try:
        np.random.seed(seed)
        np.random.shuffle(idx)
    finally:
        np.random.set_state(state)
    n1, n2 = int(n * 0.6), int(n * 0.8)
    train, valid, test = idx[:n1], idx[n1:n2], idx[n2:]
    train_users, train_items = set(user[train].tolist()), set(item[train].tolist())

    def warm(rows: np.ndarray) -> np.ndarray:
        return np.array([r for r in rows if user[r] in train_users and item[r] in train_items])

    nn = int(train.size * (1 - attack))

    def pairs(rows: np.ndarray) -> set[tuple[int, int]]:
        return set(zip(user[rows].tolist(), item[rows].tolist(), strict=True))

    return {"train": pairs(train), "valid": pairs(warm(valid)), "test": pairs(warm(test)), "flipped": pairs(train[nn:])}


def raw_pairs(data: InteractionData, rows: np.ndarray) -> set[tuple[int, int]]:
    assert data.raw_user is not None and data.raw_item is not None
    return set(zip(data.raw_user[data.user[rows]].tolist(), data.raw_item[data.item[rows]].tolist(), strict=True))


def test_ifru_protocol_matches_the_official_steps_on_synthetic_rows() -> None:
    source = small_data()
    data, split = InteractionSplitSpec(protocol="ifru", seed=1024).build(source, FlipLabels(fraction=0.05, order="last"))
    official = official_ifru_preprocessing(source.user, source.item, 1024, 0.05)
    assert raw_pairs(data, split.train) == official["train"]
    assert raw_pairs(data, split.validation) == official["valid"]
    assert raw_pairs(data, split.test) == official["test"]
    assert raw_pairs(data, split.forget) == official["flipped"]
    assert split.forget.size == 720 - int(720 * 0.95) == 36
    # the training rows are in shuffled order, and "last" means the end of it
    assert np.array_equal(split.forget, split.train[-36:])
    assert np.array_equal(np.flatnonzero(data.flipped), split.forget)
    # the default protocol draws a different split from the same seed
    other, other_split = InteractionSplitSpec(seed=1024).build(source, FlipLabels(fraction=0.05, order="last"))
    assert raw_pairs(other, other_split.train) != official["train"]


def test_last_rows_take_a_count_and_refuse_everything() -> None:
    data, split = InteractionSplitSpec(protocol="ifru", seed=5).build(small_data(), RandomInteractions(count=7, order="last"))
    assert np.array_equal(split.forget, split.train[-7:])
    with pytest.raises(InvalidParameterError, match="would forget all"):
        RandomInteractions(count=split.train.size, order="last").select(data, split.train, torch.Generator())


def test_split_protocol_parameters_are_validated() -> None:
    with pytest.raises(InvalidParameterError, match=r"\.protocol: must be one of"):
        InteractionSplitSpec(protocol="official").validate_params()
    with pytest.raises(InvalidParameterError, match="seed < 2\\*\\*32"):
        InteractionSplitSpec(protocol="ifru", seed=2**32).validate_params()
    InteractionSplitSpec(seed=2**32).validate_params()  # torch seeds are 64-bit
    with pytest.raises(InvalidParameterError, match=r"\.order: must be one of"):
        FlipLabels(fraction=0.1, order="first").validate_params()


@pytest.mark.skipif(importlib.util.find_spec("recbole") is None, reason="recbole 1.2.1 wheel not installed")
def test_ifru_protocol_on_movielens100k_reproduces_the_official_split_and_flips() -> None:
    source = MovieLens100k().load()  # label = rating > 3, 5-core: 99,287 rows, 943 x 1,349
    assert (source.n_users, source.n_items, len(source)) == (943, 1349, 99_287)
    data, split = InteractionSplitSpec(protocol="ifru", seed=1024).build(source, FlipLabels(fraction=0.01, order="last"))
    assert split.train.size == 59_572 and split.forget.size == 596
    raw_user, raw_item = source.raw_user[source.user], source.raw_item[source.item]  # type: ignore[index]  # set by compact()
    official = official_ifru_preprocessing(raw_user, raw_item, 1024, 0.01)
    assert raw_pairs(data, split.train) == official["train"]
    assert raw_pairs(data, split.validation) == official["valid"]
    assert raw_pairs(data, split.test) == official["test"]
    assert raw_pairs(data, split.forget) == official["flipped"]
    # the original trains on the flipped labels of exactly those rows
    clean, _ = InteractionSplitSpec(protocol="ifru", seed=1024).build(source, RandomInteractions(fraction=0.01, order="last"))
    assert np.array_equal(np.flatnonzero(clean.label != data.label), split.forget)
