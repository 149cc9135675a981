"""Contract tests over the forget-selector registry."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from unlearnkit.data import SELECTORS
from unlearnkit.errors import InvalidParameterError
from unlearnkit.params import constructor_parameters

EXAMPLES = {
    "random": {"fraction": 0.1},
    "classes": {"classes": [1]},
    "groups": {"n_groups": 2},
    "group_samples": {"n_groups": 3, "fraction": 0.5},
    "index_file": None,  # needs a file: filled in by the fixture below
}


@pytest.fixture
def examples(tmp_path):
    path = tmp_path / "forget.txt"
    path.write_text("3\n5\n")
    return {**EXAMPLES, "index_file": {"path": str(path)}}


def test_every_selector_has_an_example() -> None:
    assert set(SELECTORS) == set(EXAMPLES)


@pytest.mark.parametrize("name", list(SELECTORS))
def test_selection_is_valid_and_seeded(name, examples, tiny_data) -> None:
    selector = SELECTORS[name].from_params(examples[name])
    train = np.arange(0, len(tiny_data), 2)
    train = np.union1d(train, [3, 5])
    first = selector.select(tiny_data, train, torch.Generator().manual_seed(0))
    again = selector.select(tiny_data, train, torch.Generator().manual_seed(0))
    np.testing.assert_array_equal(first.indices, again.indices)
    assert first.indices.size > 0
    assert np.isin(first.indices, train).all()
    assert np.unique(first.indices).size == first.indices.size
    assert (first.distribution is not None) == SELECTORS[name].defines_distribution
    if first.distribution is not None:
        assert first.distribution[first.indices].all()


@pytest.mark.parametrize("name", list(SELECTORS))
def test_selector_constraints_match_constructor(name) -> None:
    cls = SELECTORS[name]
    assert set(cls.parameter_constraints) == set(constructor_parameters(cls))
    assert cls.description


def test_random_needs_exactly_one_of_count_and_fraction() -> None:
    with pytest.raises(InvalidParameterError, match="exactly one of 'count' and 'fraction'"):
        SELECTORS["random"].from_params({"count": 3, "fraction": 0.1})
    with pytest.raises(InvalidParameterError, match="exactly one"):
        SELECTORS["random"].from_params({})


def test_stratified_random_takes_each_class(tiny_data) -> None:
    train = np.arange(len(tiny_data))
    selection = SELECTORS["random"](fraction=0.25, stratified=True).select(tiny_data, train, torch.Generator().manual_seed(0))
    counts = np.bincount(tiny_data.y.numpy()[selection.indices])
    assert (counts == 10).all()


def test_unknown_group_is_rejected_with_range(tiny_data) -> None:
    with pytest.raises(InvalidParameterError, match="have no training samples"):
        SELECTORS["groups"](groups=[999]).select(tiny_data, np.arange(len(tiny_data)), torch.Generator())


def test_index_file_outside_train_is_rejected(tmp_path, tiny_data) -> None:
    path = tmp_path / "f.txt"
    path.write_text("1\n2\n")
    with pytest.raises(InvalidParameterError, match="1 of 2 indices are not training samples"):
        SELECTORS["index_file"](path=str(path)).select(tiny_data, np.array([0, 1]), torch.Generator())
