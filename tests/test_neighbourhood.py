"""The neighbourhood remedy: S u N_tau(S) on toy embeddings and recorded copies, computed by hand."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from unlearnkit.data import ClassificationData, Split
from unlearnkit.data.similar import (
    Neighbourhood,
    SimilarSet,
    attach_similar,
    expanded_split,
    neighbourhood,
)
from unlearnkit.data.similar.images import BlockMask
from unlearnkit.errors import InvalidParameterError, SplitError

# Ten 2-D unit vectors at these angles (degrees); cos(a - b) decides similarity.
ANGLES = [0.0, 8.0, 20.0, 40.0, 90.0, 95.0, 180.0, 270.0, 350.0, 100.0]


def toy() -> tuple[ClassificationData, Split, torch.Tensor]:
    radians = torch.deg2rad(torch.tensor(ANGLES))
    vectors = torch.stack([torch.cos(radians), torch.sin(radians)], dim=1)
    data = ClassificationData("angles", vectors.view(10, 1, 1, 2).float(), torch.zeros(10, dtype=torch.long), torch.arange(10), n_classes=1)
    # train 0..7, forget {0, 4}; validation 8; test 9
    split = Split(10, np.arange(8), np.array([0, 4]), np.array([8]), np.array([9]))
    return data, split, vectors.float()


def test_embedding_neighbourhood_is_the_hand_computed_set() -> None:
    _, split, vectors = toy()
    # cos >= 0.9 <=> angle gap <= 25.84 deg.
    # forget 0 deg: 8 (gap 8), 20 (gap 20) qualify; 40 (gap 40) does not; 350 is row 8 = validation, not retain.
    # forget 90 deg: 95 (gap 5) qualifies; 100 is row 9 = test, not retain.
    np.testing.assert_array_equal(neighbourhood(split.forget, split.retain, embeddings=vectors, tau=0.9), [1, 2, 5])
    # tau = 0.7 (gap <= 45.57 deg) adds 40 deg (row 3)
    np.testing.assert_array_equal(neighbourhood(split.forget, split.retain, embeddings=vectors, tau=0.7), [1, 2, 3, 5])
    # tau = 1 keeps only exact directions: none
    assert neighbourhood(split.forget, split.retain, embeddings=vectors, tau=1.0).size == 0


def test_recorded_neighbourhood_respects_targets_and_scores() -> None:
    # rows 5 and 6 recorded as similar to target 0 (scores .9, .4), row 7 to target 3 (not forgotten)
    similar = SimilarSet("x", {}, 8, np.array([0, 3]), np.array([5, 6, 7]), np.array([0, 0, 3]), np.array([0.9, 0.4, 0.8]))
    forget, retain = np.array([0, 4]), np.array([1, 2, 3, 5, 6, 7])
    np.testing.assert_array_equal(neighbourhood(forget, retain, similar=similar), [5, 6])
    np.testing.assert_array_equal(neighbourhood(forget, retain, similar=similar, min_score=0.5), [5])


def test_neighbourhood_selector_expands_the_forget_set() -> None:
    data, split, _ = toy()
    expanded = Neighbourhood(source="embedding", tau=0.9, encoder="pixels").expand(data, split)
    np.testing.assert_array_equal(expanded.forget, [0, 1, 2, 4, 5])
    np.testing.assert_array_equal(expanded.retain, [3, 6, 7])
    np.testing.assert_array_equal(expanded.test, split.test)


def test_neighbourhood_of_constructed_copies_is_exactly_the_copies() -> None:
    data, split, _ = toy()
    data4 = ClassificationData("grid", torch.randn(10, 1, 4, 4), data.y, data.groups, n_classes=1)
    construction = BlockMask(block=2, ratio=0.25, copies=3).construct(data4, split.forget, generator=torch.Generator().manual_seed(0))
    extended = attach_similar(split, construction.similar)
    remedy = Neighbourhood(source="recorded")
    np.testing.assert_array_equal(remedy.neighbours(construction.data, extended, similar=construction.similar), np.arange(10, 16))
    both = Neighbourhood(source="both", tau=0.999, encoder="pixels").neighbours(construction.data, extended, similar=construction.similar)
    np.testing.assert_array_equal(both, np.arange(10, 16))  # random pixels: no other row is that close


def test_neighbourhood_errors_name_what_is_missing() -> None:
    data, split, vectors = toy()
    with pytest.raises(InvalidParameterError, match="needs a SimilarSet"):
        neighbourhood(split.forget, split.retain)
    with pytest.raises(InvalidParameterError, match="go together"):
        neighbourhood(split.forget, split.retain, embeddings=vectors)
    with pytest.raises(InvalidParameterError, match="needs a similarity threshold 'tau'"):
        Neighbourhood.from_params({"source": "embedding"})
    with pytest.raises(InvalidParameterError, match="needs the SimilarSet"):
        Neighbourhood(source="recorded").neighbours(data, split)
    with pytest.raises(InvalidParameterError, match="not retain rows"):
        expanded_split(split, np.array([9]))


def test_expanded_split_keeps_the_split_invariants() -> None:
    _, split, _ = toy()
    with_distribution = Split(10, np.arange(8), np.array([0]), np.array([8]), np.array([9]), forget_distribution=np.array([0, 1]))
    expanded = expanded_split(with_distribution, np.array([3]))
    assert expanded.forget_distribution is not None
    np.testing.assert_array_equal(expanded.forget_distribution, [0, 1, 3])
    with pytest.raises(SplitError):
        expanded_split(split, np.arange(8)[np.isin(np.arange(8), split.retain)])  # everything forgotten
