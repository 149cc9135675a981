"""Recommendation metrics against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest

from unlearnkit.errors import InvalidParameterError
from unlearnkit.metrics.recsys import (
    bce_per_row,
    membership_auc,
    pointwise_auc,
    ranking_metrics,
    recovery,
    retrain_correlation,
    touched_auc,
    touched_masks,
)

# Three users, four items. Training positives: (0, 0), (2, 3). Test positives: (0, 1), (0, 3), (1, 0), (2, 2).
SCORES = np.array(
    [
        [3.0, 2.0, 1.0, 0.0],  # user 0: item 0 masked -> ranking 1, 2, 3
        [0.0, 1.0, 2.0, 3.0],  # user 1: ranking 3, 2, 1, 0
        [1.0, 3.0, 0.5, 2.0],  # user 2: item 3 masked -> ranking 1, 0, 2
    ]
)
TRAIN = (np.array([0, 2]), np.array([0, 3]))
TEST = (np.array([0, 0, 1, 2]), np.array([1, 3, 0, 2]))


def test_ranking_metrics_by_hand() -> None:
    result = ranking_metrics(SCORES, *TRAIN, *TEST, k=2)
    d1, d2 = 1.0, 1.0 / math.log2(3)
    # user 0: top-2 = [1, 2], hits [1, 0], |T| = 2 -> recall 1/2, ndcg d1 / (d1 + d2)
    # user 1: top-2 = [3, 2], no hit;  user 2: top-2 = [1, 0], no hit
    assert result["recall"] == pytest.approx((0.5 + 0 + 0) / 3)
    assert result["ndcg"] == pytest.approx((d1 / (d1 + d2)) / 3)
    assert result["hit_rate"] == pytest.approx(1 / 3)
    assert result["n_users"] == 3
    full = ranking_metrics(SCORES, *TRAIN, *TEST, k=3)
    # user 0: [1, 2, 3] hits at ranks 1, 3; user 1: [3, 2, 1] none; user 2: [1, 0, 2] hit at rank 3
    d3 = 1.0 / math.log2(4)
    assert full["recall"] == pytest.approx((1.0 + 0.0 + 1.0) / 3)
    assert full["ndcg"] == pytest.approx(((d1 + d3) / (d1 + d2) + 0.0 + d3 / d1) / 3)


def test_idcg_is_capped_at_k() -> None:
    # one user with 3 test positives, k = 1, a hit at rank 1: NDCG must be 1 (IDCG over min(k, |T|) = 1 rank)
    result = ranking_metrics(np.array([[3.0, 2.0, 1.0, 0.0]]), [], [], [0, 0, 0], [0, 1, 2], k=1)
    assert result["ndcg"] == pytest.approx(1.0)
    assert result["recall"] == pytest.approx(1 / 3)


def test_ranking_rejects_bad_input() -> None:
    with pytest.raises(InvalidParameterError, match="k must be"):
        ranking_metrics(SCORES, *TRAIN, *TEST, k=5)
    with pytest.raises(InvalidParameterError, match="no user has a test positive"):
        ranking_metrics(SCORES, *TRAIN, [], [], k=2)


def test_pointwise_auc_and_touched_subsets() -> None:
    scores = np.array([0.9, 0.2, 0.6, 0.4, 0.8, 0.1])
    labels = np.array([1, 0, 0, 1, 1, 0])
    # positives 0.9, 0.4, 0.8 vs negatives 0.2, 0.6, 0.1: all pairs ordered except (0.4, 0.6)
    assert pointwise_auc(scores, labels) == pytest.approx(8 / 9)
    users = np.array([0, 0, 1, 1, 2, 2])
    items = np.array([5, 6, 5, 7, 6, 7])
    either, both = touched_masks(users, items, forget_users=[0], forget_items=[5])
    assert either.tolist() == [True, True, True, False, False, False]
    assert both.tolist() == [True, False, False, False, False, False]
    with pytest.raises(InvalidParameterError, match="both labels"):
        touched_auc(scores, labels, users, items, [0], [5])  # the "and" subset has one row
    result = touched_auc(scores, labels, users, items, [0, 1], [5, 7])
    # or: rows 0-3 (and row 5 via item 7): positives 0.9, 0.4 vs negatives 0.2, 0.6, 0.1 -> 5 of 6
    assert result["auc_or"] == pytest.approx(5 / 6)
    # and: rows 0 (u0,i5), 2 (u1,i5), 3 (u1,i7): positives 0.9, 0.4 vs negative 0.6 -> 1 of 2
    assert result["auc_and"] == pytest.approx(1 / 2)
    with pytest.raises(InvalidParameterError, match="both labels"):
        pointwise_auc([0.1, 0.2], [1, 1])


def test_retrain_correlation_recovery_and_membership() -> None:
    assert retrain_correlation([1.0, 2.0, 3.0], [2.0, 4.0, 6.0]) == pytest.approx(1.0)
    assert retrain_correlation([1.0, 2.0, 3.0], [3.0, 2.0, 1.0]) == pytest.approx(-1.0)
    with pytest.raises(InvalidParameterError, match="constant"):
        retrain_correlation([1.0, 1.0], [1.0, 2.0])
    assert recovery(0.75, original=0.70, retrained=0.80) == pytest.approx(0.5)
    assert recovery(0.70, original=0.70, retrained=0.80) == pytest.approx(0.0)
    with pytest.raises(InvalidParameterError, match="undefined"):
        recovery(0.7, original=0.7, retrained=0.7)
    # members have lower loss than non-members in 3 of 4 pairs
    assert membership_auc([0.1, 0.5], [0.3, 0.9]) == pytest.approx(3 / 4)
    assert bce_per_row([0.0], [1]) == pytest.approx([math.log(2)])
