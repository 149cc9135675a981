"""Per-target figures of the forget set against the reference: loss, confidence, margin, a membership score.

Each forget sample is a *target* (with similar samples, the row whose
near-copies or neighbours stay in the retain set). Every metric here is the
mean over targets of a per-target figure, direction "≈ reference": the
reference is retraining without S under "untraining" and without S u N(S)
under "unlearning", so the same metric tells how far a model is from either
oracle, and the report's similar-samples section reads the per-target
values (from the stored logits, or the arrays these metrics store) grouped
by how many similar samples each target had.

For a language model (kind "language_model") the stored logits of a
document encode its mean negative log-likelihood per token l as
``[log(1 - e^-l), -l]`` with label 1, so the cross-entropy is l itself and
the true-class probability e^-l (the geometric-mean token probability).
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from unlearnkit.metrics import functional as fn
from unlearnkit.metrics.attacks import confidence_scores
from unlearnkit.metrics.base import CLASSIFIER_KINDS, EvalContext, Metric
from unlearnkit.params import Options

LANGUAGE_MODEL = "language_model"


def losses(ctx: EvalContext, split: str) -> np.ndarray:
    """Per-example cross-entropy on ``split``, computed in float64."""
    out = ctx.outputs
    return fn.per_example_loss(out.logits[split].double(), out.labels[split])
UNSEEN_SPLITS = ("test", "heldout_forget")


class _TargetMetric(Metric):
    direction = "reference"
    notion = "unlearning"
    goals = frozenset({"untraining", "unlearning"})
    requires_splits = ("forget",)


class TargetLoss(_TargetMetric):
    description = "mean cross-entropy of the forget targets (language models: mean NLL per token, nats), ≈ the reference's"
    task_kinds = frozenset({*CLASSIFIER_KINDS, LANGUAGE_MODEL})

    def compute(self, ctx: EvalContext) -> float:
        return float(losses(ctx, "forget").mean())


class TargetConfidence(_TargetMetric):
    description = "mean true-class probability of the forget targets, ≈ the reference's"

    def compute(self, ctx: EvalContext) -> float:
        out = ctx.outputs
        return float(fn.true_class_confidence(out.logits["forget"].double(), out.labels["forget"]).mean())


class TargetMargin(_TargetMetric):
    description = "mean margin of the forget targets (true logit - logsumexp of the others), ≈ the reference's"

    def compute(self, ctx: EvalContext) -> float:
        out = ctx.outputs
        return float(confidence_scores(out.logits["forget"].double(), out.labels["forget"], "margin").mean())


class TargetMIA(_TargetMetric):
    """Loss-threshold membership scores of the targets against never-trained examples (``against``).

    A target's score is the share of the unseen examples whose loss is
    higher than its own (:func:`~unlearnkit.metrics.functional.loss_rank_scores`);
    the value is their mean, the attack's AUC (0.5: the targets look unseen).
    ``against = "heldout_forget"`` compares with never-trained samples of the
    forget distribution (unseen canaries; fresh copies of the targets),
    ``"test"`` with test data. The per-target scores are stored (``score``).
    """

    description = "loss-threshold MIA AUC of the forget targets vs unseen examples (per-target scores stored), ≈ the reference's"
    task_kinds = frozenset({*CLASSIFIER_KINDS, LANGUAGE_MODEL})
    parameter_constraints = {"against": Options(UNSEEN_SPLITS)}

    def __init__(self, *, against: str = "test") -> None:
        self.against = against

    def needed_splits(self) -> tuple[str, ...]:
        return ("forget", self.against)

    def scores(self, ctx: EvalContext) -> np.ndarray:
        key = f"target_mia/{self.against}"
        if key not in ctx.memo:
            ctx.memo[key] = fn.loss_rank_scores(losses(ctx, "forget"), losses(ctx, self.against))
        scores: np.ndarray = ctx.memo[key]
        return scores

    def compute(self, ctx: EvalContext) -> float:
        return float(self.scores(ctx).mean())

    def arrays(self, ctx: EvalContext) -> dict[str, np.ndarray]:
        return {"score": self.scores(ctx)}


class _SplitLoss(Metric):
    split_name: ClassVar[str]
    direction = "lower"
    task_kinds = frozenset({*CLASSIFIER_KINDS, LANGUAGE_MODEL})

    def compute(self, ctx: EvalContext) -> float:
        return float(losses(ctx, self.split_name).mean())


class RetainLoss(_SplitLoss):
    description = "mean cross-entropy on the retain set (language models: NLL per token, nats)"
    split_name = "retain"
    requires_splits = ("retain",)


class TestLoss(_SplitLoss):
    description = "mean cross-entropy on the test set (language models: NLL per token, nats; perplexity = e^value)"
    split_name = "test"
    requires_splits = ("test",)
