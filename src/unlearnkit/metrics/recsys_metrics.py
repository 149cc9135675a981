"""Recommendation metric classes (task kind "recommendation") and what they read.

A recommender is scored once on the forget, validation and test rows
(:class:`RecOutputs`); the metrics are functions of those scores, the
retrained reference's and the original's scores, the timings and the peak
memory (:class:`RecEvalContext`). Ranking metrics also read the model (full
item ranking). The formulas live in :mod:`unlearnkit.metrics.recsys`.

Conventions: scores are logits; labels are the labels *as trained* (a
label-flipped forget row carries its flipped label); the reference is the
model retrained without the forget rows with the original's recipe and
early stopping.
"""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from unlearnkit.data.recsys.interactions import InteractionData
from unlearnkit.data.splits import Split
from unlearnkit.errors import MissingReferenceError
from unlearnkit.metrics import recsys as fn
from unlearnkit.metrics.base import Metric
from unlearnkit.models.recsys.embedding import all_scores
from unlearnkit.params import Constraint, Interval
from unlearnkit.training.recsys import predict_rows

SCORED_SPLITS = ("forget", "validation", "test")


@dataclass(frozen=True, eq=False)
class RecOutputs:
    """One model's logits on the forget, validation and test rows."""

    scores: dict[str, np.ndarray]

    @classmethod
    def compute(cls, model: nn.Module, data: InteractionData, split: Split) -> RecOutputs:
        return cls({name: predict_rows(model, data, getattr(split, name)).numpy() for name in SCORED_SPLITS})


@dataclass(eq=False)
class RecEvalContext:
    """What recommendation metrics may read about one unlearned model.

    ``original`` is the shared original (trained on every training row,
    forget rows included) so recovery can place a method between it and the
    reference. ``peak_memory_mib`` comes from
    :func:`unlearnkit.experiment.memory.measure_peak_memory` (None when the
    platform cannot measure it).
    """

    data: InteractionData
    split: Split
    model: nn.Module
    outputs: RecOutputs
    seconds: float
    peak_memory_mib: float | None = None
    reference: RecOutputs | None = None
    reference_seconds: float | None = None
    original: RecOutputs | None = None
    seed: int = 0
    memo: dict[str, Any] = field(default_factory=dict)

    def labels(self, name: str) -> np.ndarray:
        return self.data.label[getattr(self.split, name)]

    def require_reference(self, metric: str) -> tuple[RecOutputs, float]:
        if self.reference is None or self.reference_seconds is None:
            raise MissingReferenceError(f"metric {metric!r} needs the retrained reference, which was not provided")
        return self.reference, self.reference_seconds

    def require_original(self, metric: str) -> RecOutputs:
        if self.original is None:
            raise MissingReferenceError(f"metric {metric!r} needs the original model's outputs, which were not provided")
        return self.original

    def forget_nodes(self) -> tuple[np.ndarray, np.ndarray]:
        """V_u: the users and items of the forget rows."""
        forget = self.split.forget
        return np.unique(self.data.user[forget]), np.unique(self.data.item[forget])


class RecommendationMetric(Metric):
    """Base of the recommendation metrics: computed from a :class:`RecEvalContext`."""

    task_kinds = frozenset({"recommendation"})
    goals = frozenset({"untraining"})

    @abstractmethod
    def compute(self, ctx: RecEvalContext) -> float:  # type: ignore[override]
        ...


class _SplitAUC(RecommendationMetric):
    split_name: ClassVar[str]
    direction = "higher"

    def compute(self, ctx: RecEvalContext) -> float:
        return fn.pointwise_auc(ctx.outputs.scores[self.split_name], ctx.labels(self.split_name))


class TestAUC(_SplitAUC):
    description = "pointwise ROC-AUC on the test interactions (IFRU's AUC)"
    split_name = "test"


class ValidationAUC(_SplitAUC):
    description = "pointwise ROC-AUC on the validation interactions"
    split_name = "validation"


def _touched(ctx: RecEvalContext, scores: np.ndarray) -> dict[str, float]:
    test = ctx.split.test
    users, items = ctx.forget_nodes()
    return fn.touched_auc(scores, ctx.labels("test"), ctx.data.user[test], ctx.data.item[test], users, items)


class AUCOr(RecommendationMetric):
    description = "test AUC on rows whose user or item occurs in the forget set (IFRU's AUC-or)"
    direction = "higher"

    def compute(self, ctx: RecEvalContext) -> float:
        return _touched(ctx, ctx.outputs.scores["test"])["auc_or"]


class AUCAnd(RecommendationMetric):
    description = "test AUC on rows whose user and item both occur in the forget set (IFRU's AUC-and)"
    direction = "higher"

    def compute(self, ctx: RecEvalContext) -> float:
        return _touched(ctx, ctx.outputs.scores["test"])["auc_and"]


def ranking(ctx: RecEvalContext, k: int) -> dict[str, float]:
    """Recall/NDCG@k over the full item ranking (memoised per k).

    Masked: the positives of the *retained* training rows (what the system
    still knows each user has seen), the same mask for every method.
    Relevant: the test positives.
    """
    key = f"ranking@{k}"
    if key not in ctx.memo:
        data, split = ctx.data, ctx.split
        scores = all_scores(ctx.model, torch.arange(data.n_users))
        seen = data.positives(split.retain)
        test = data.positives(split.test)
        ctx.memo[key] = fn.ranking_metrics(
            scores, data.user[seen], data.item[seen], data.user[test], data.item[test], k=k
        )
    return ctx.memo[key]


class _RankingMetric(RecommendationMetric):
    direction = "higher"
    parameter_constraints: ClassVar[dict[str, Constraint]] = {"k": Interval(int, 1, None)}
    needs_model = True
    field_name: ClassVar[str]

    def __init__(self, *, k: int = 20) -> None:
        self.k = k

    def compute(self, ctx: RecEvalContext) -> float:
        return ranking(ctx, self.k)[self.field_name]


class RecallAtK(_RankingMetric):
    description = "Recall@k (default 20) over all items, retained training positives masked, test positives relevant"
    field_name = "recall"


class NDCGAtK(_RankingMetric):
    description = "NDCG@k (default 20; IDCG over min(k, |T_u|) ranks), retained training positives masked"
    field_name = "ndcg"


class _RetrainCorrelation(RecommendationMetric):
    direction = "higher"
    needs_reference = True
    notion = "untraining"
    split_name: ClassVar[str]

    def compute(self, ctx: RecEvalContext) -> float:
        reference, _ = ctx.require_reference(f"retrain_corr_{self.split_name}")
        return fn.retrain_correlation(ctx.outputs.scores[self.split_name], reference.scores[self.split_name])


class RetrainCorrelationForget(_RetrainCorrelation):
    description = "Pearson correlation of the logits with the retrained model's on the forget rows (1 = same)"
    split_name = "forget"


class RetrainCorrelationTest(_RetrainCorrelation):
    description = "Pearson correlation of the logits with the retrained model's on the test rows (1 = same)"
    split_name = "test"


class ForgetMembership(RecommendationMetric):
    """Loss-threshold membership test on the forgotten interactions.

    ROC-AUC of -BCE separating the forget rows (members, with the labels the
    original trained on) from the test rows (non-members). Match the
    retrained model's value, not 0.5: with flipped labels a retrained model
    fits the forget rows *worse* than unseen rows and scores below 0.5.
    """

    description = "membership AUC of forget rows vs test rows by loss (match retrain; flipped rows: retrain < 0.5)"
    direction = "reference"
    notion = "untraining"

    def compute(self, ctx: RecEvalContext) -> float:
        scores = ctx.outputs.scores
        return fn.membership_auc(
            fn.bce_per_row(scores["forget"], ctx.labels("forget")), fn.bce_per_row(scores["test"], ctx.labels("test"))
        )


class AUCRecovery(RecommendationMetric):
    """(AUC_u - AUC_o) / (AUC_r - AUC_o) on test: the share of the original-to-retrain gap closed.

    AUC_o is the shared original's (the model every shared-original method
    starts from; sharded methods are put on the same scale, so the accuracy
    their ensembles give up shows as a lower value). Raises when retraining
    leaves the test AUC unchanged. Meaningful when the gap clearly exceeds
    the seed-to-seed noise (the 5 % flipped setting on ML-100K).
    """

    description = "share of the original->retrain test-AUC gap closed: (AUC_u - AUC_o)/(AUC_r - AUC_o); 1 = retrain"
    direction = "reference"
    needs_reference = True
    notion = "untraining"

    def compute(self, ctx: RecEvalContext) -> float:
        reference, _ = ctx.require_reference("auc_recovery")
        original = ctx.require_original("auc_recovery")
        labels = ctx.labels("test")
        return fn.recovery(
            fn.pointwise_auc(ctx.outputs.scores["test"], labels),
            fn.pointwise_auc(original.scores["test"], labels),
            fn.pointwise_auc(reference.scores["test"], labels),
        )


RECOMMENDATION_METRICS: dict[str, type[Metric]] = {
    "test_auc": TestAUC,
    "validation_auc": ValidationAUC,
    "auc_or": AUCOr,
    "auc_and": AUCAnd,
    "recall": RecallAtK,
    "ndcg": NDCGAtK,
    "retrain_corr_forget": RetrainCorrelationForget,
    "retrain_corr_test": RetrainCorrelationTest,
    "forget_mia": ForgetMembership,
    "auc_recovery": AUCRecovery,
}
