"""Recommendation metric classes on a hand-made context: every value worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from unlearnkit.data.recsys import InteractionData
from unlearnkit.data.splits import Split
from unlearnkit.errors import MissingReferenceError
from unlearnkit.experiment.memory import measure_peak_memory
from unlearnkit.metrics import METRICS
from unlearnkit.metrics.recsys_metrics import (
    RECOMMENDATION_METRICS,
    RecEvalContext,
    RecOutputs,
)
from unlearnkit.models.recsys import MatrixFactorisation

# rows:        0      1      2      3      4      5      6      7      8      9      10     11
USERS = [0, 0, 1, 2, 2, 0, 1, 0, 1, 2, 1, 2]
ITEMS = [0, 1, 1, 3, 2, 2, 0, 3, 3, 1, 2, 0]
LABELS = [1, 0, 1, 1, 0, 1, 0, 1, 0, 0, 0, 0]
# train 0-4 (forget 1 and 3: V_u = users {0, 2}, items {1, 3}), validation 5-6, test 7-11
SPLIT = Split(12, np.arange(5), np.array([1, 3]), np.array([5, 6]), np.arange(7, 12))
TEST_SCORES = np.array([0.2, 1.0, -0.5, 1.5, -1.0])


def model() -> torch.nn.Module:
    """MF whose user 0 scores items 0..3 as 5, 1, 3, 2 (items are one-hot)."""
    mf = MatrixFactorisation(dim=4).build(DATA.meta, torch.Generator().manual_seed(0))
    with torch.no_grad():
        mf.item_embedding.copy_(torch.eye(4))
        mf.user_embedding.copy_(torch.tensor([[5.0, 1.0, 3.0, 2.0], [0.0, 1.0, 0.0, 0.0], [1.0, 0.0, 0.0, 0.0]]))
    return mf


DATA = InteractionData("hand", USERS, ITEMS, LABELS, n_users=3, n_items=4)


def context(**overrides) -> RecEvalContext:
    outputs = RecOutputs({"forget": np.array([0.0, 3.0]), "validation": np.array([0.3, 0.1]), "test": TEST_SCORES})
    reference = RecOutputs(
        {"forget": np.array([2.0, -1.0]), "validation": np.array([0.0, 1.0]), "test": np.array([1.0, 0.0, -1.0, 0.5, -2.0])}
    )
    original = RecOutputs(
        {"forget": np.array([1.0, 1.0]), "validation": np.array([0.0, 0.0]), "test": np.array([-1.0, 1.0, 0.0, 1.5, -2.0])}
    )
    fields = {
        "data": DATA, "split": SPLIT, "model": model(), "outputs": outputs, "seconds": 2.0, "peak_memory_mib": 12.5,
        "reference": reference, "reference_seconds": 30.0, "original": original,
    }
    fields.update(overrides)
    return RecEvalContext(**fields)


def value(name: str, ctx: RecEvalContext | None = None, **params) -> float:
    return METRICS[name].from_params(params).compute(ctx or context())


def test_every_recommendation_metric_is_registered_for_recommendation() -> None:
    for name in [*RECOMMENDATION_METRICS, "wall_time", "speedup"]:
        assert "recommendation" in METRICS[name].task_kinds, name
    assert "recommendation" not in METRICS["test_acc"].task_kinds


def test_auc_family_by_hand() -> None:
    # test labels 1, 0, 0, 0, 0: the positive 0.2 beats -0.5 and -1.0 but not 1.0 and 1.5 -> 2 of 4
    assert value("test_auc") == pytest.approx(0.5)
    # "or": rows 7, 8, 9, 11 (user 0 or 2, or item 1 or 3): 0.2 vs 1.0, -0.5, -1.0 -> 2 of 3
    assert value("auc_or") == pytest.approx(2 / 3)
    # "and": rows 7 (u0, i3) and 9 (u2, i1): 0.2 vs -0.5 -> 1
    assert value("auc_and") == pytest.approx(1.0)
    assert value("validation_auc") == pytest.approx(1.0)  # 0.3 (label 1) above 0.1 (label 0)


def test_ranking_metrics_by_hand() -> None:
    # user 0 is the only user with a test positive (item 3); retained positive item 0 is masked:
    # ranking 2 (3.0), 3 (2.0), 1 (1.0). The forgotten row (0, 1) is not masked.
    assert value("recall", k=2) == pytest.approx(1.0)
    assert value("ndcg", k=2) == pytest.approx(1 / math.log2(3))
    assert value("recall", k=1) == pytest.approx(0.0)
    assert value("ndcg", k=1) == pytest.approx(0.0)


def test_retrain_closeness_membership_and_recovery_by_hand() -> None:
    # forget: (0, 3) vs (2, -1): two points on a falling line
    assert value("retrain_corr_forget") == pytest.approx(-1.0)
    # test: sum of products of deviations 3.81 / sqrt(4.252 * 5.8)
    assert value("retrain_corr_test") == pytest.approx(3.81 / math.sqrt(4.252 * 5.8))
    # member losses: bce(0, 0) = 0.693, bce(3, 1) = 0.049; non-member losses 0.598, 1.313, 0.474, 1.701, 0.313:
    # 0.693 is below 2 of them, 0.049 below all 5 -> 7 of 10
    assert value("forget_mia") == pytest.approx(0.7)
    # AUC_u 0.5, AUC_o 0.25 (-1.0 beats only -2.0), AUC_r 1.0 -> (0.5 - 0.25) / 0.75
    assert value("auc_recovery") == pytest.approx(1 / 3)


def test_efficiency_metrics() -> None:
    assert value("wall_time") == pytest.approx(2.0)
    assert value("speedup") == pytest.approx(15.0)
    assert value("peak_memory") == pytest.approx(12.5)


def test_missing_inputs_raise_instead_of_defaulting() -> None:
    with pytest.raises(MissingReferenceError, match="retrained reference"):
        value("retrain_corr_test", context(reference=None, reference_seconds=None))
    with pytest.raises(MissingReferenceError, match="original"):
        value("auc_recovery", context(original=None))
    with pytest.raises(MissingReferenceError, match="peak memory"):
        value("peak_memory", context(peak_memory_mib=None))


def test_peak_memory_sees_a_torch_allocation() -> None:
    with measure_peak_memory() as peak:
        block = torch.ones(64 * 1024 * 1024 // 4)  # 64 MiB
        block += 1
        del block
    if peak.mib is None:
        pytest.skip("/proc/self/clear_refs is not writable here")
    assert 60 <= peak.mib <= 200
