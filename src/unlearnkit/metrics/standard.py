"""The standard metrics: accuracies, membership inference, NoMUS, gap to retrain, time."""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from unlearnkit.errors import MissingReferenceError
from unlearnkit.metrics import functional as fn
from unlearnkit.metrics.base import ALL_KINDS, EvalContext, Metric
from unlearnkit.params import Interval


class _SplitAccuracy(Metric):
    split_name: ClassVar[str]

    def compute(self, ctx: EvalContext) -> float:
        out = ctx.outputs
        return fn.accuracy(out.logits[self.split_name], out.labels[self.split_name])


class RetainAccuracy(_SplitAccuracy):
    description = "accuracy on the retain set"
    direction = "higher"
    split_name = "retain"
    requires_splits = ("retain",)


class ForgetAccuracy(_SplitAccuracy):
    description = "accuracy on the forget set (untraining: match retrain; lower is not better)"
    direction = "reference"
    goals = frozenset({"untraining"})
    notion = "untraining"
    split_name = "forget"
    requires_splits = ("forget",)


class ValidationAccuracy(_SplitAccuracy):
    description = "accuracy on the validation set"
    direction = "higher"
    split_name = "validation"
    requires_splits = ("validation",)


class TestAccuracy(_SplitAccuracy):
    description = "accuracy on the test set (excluding the forget distribution's samples)"
    direction = "higher"
    split_name = "test"
    requires_splits = ("test",)


class HeldoutForgetAccuracy(_SplitAccuracy):
    # Meaningful for both goals: the reference (retrain on D minus S, or on D
    # minus the whole distribution) fixes what held-out accuracy should be.
    description = "accuracy on never-trained samples of the forget distribution (match the reference)"
    direction = "reference"
    notion = "unlearning"
    split_name = "heldout_forget"
    requires_splits = ("heldout_forget",)


def loss_mia(ctx: EvalContext) -> float:
    """MUFAC loss-LR MIA, forget vs unseen (held-out forget distribution if any, else test)."""
    if "mia_loss" not in ctx.memo:
        out = ctx.outputs
        unseen = "heldout_forget" if out.has("heldout_forget") else "test"
        ctx.memo["mia_loss"] = fn.mia_loss_lr(
            fn.per_example_loss(out.logits["forget"], out.labels["forget"]),
            fn.per_example_loss(out.logits[unseen], out.labels[unseen]),
            seed=ctx.seed,
        )
    auc: float = ctx.memo["mia_loss"]
    return auc


class LossMIA(Metric):
    description = "MUFAC loss-LR MIA accuracy, forget vs unseen (10-split CV; 0.5 = indistinguishable)"
    direction = "reference"
    goals = frozenset({"untraining"})
    notion = "untraining"
    requires_splits = ("forget", "test")

    def compute(self, ctx: EvalContext) -> float:
        return loss_mia(ctx)


class ForgettingScore(Metric):
    description = "|MIA - 0.5| of the loss MIA (MUFAC forgetting score; a weak proxy, the reference sits above 0)"
    direction = "lower"
    goals = frozenset({"untraining"})
    notion = "untraining"
    requires_splits = ("forget", "test")

    def compute(self, ctx: EvalContext) -> float:
        return fn.forgetting_score(loss_mia(ctx))


class NoMUS(Metric):
    description = "lam * test acc + (1 - lam) * (1 - 2 FS) (MUFAC/DLFD; rewards MIA -> 0.5, not the reference)"
    direction = "higher"
    goals = frozenset({"untraining"})
    notion = "untraining"
    requires_splits = ("forget", "test")
    parameter_constraints = {"lam": Interval(float, 0.0, 1.0)}

    def __init__(self, *, lam: float = 0.5) -> None:
        self.lam = lam

    def compute(self, ctx: EvalContext) -> float:
        out = ctx.outputs
        return fn.nomus(fn.accuracy(out.logits["test"], out.labels["test"]), loss_mia(ctx), self.lam)


def svc_mia_efficacy(ctx: EvalContext) -> float:
    if "mia_efficacy" not in ctx.memo:
        out = ctx.outputs
        n = min(len(out.labels["retain"]), len(out.labels["test"]))
        # Shadow members: a seeded sample of the retain set as large as the test set.
        pick = np.random.default_rng(ctx.seed).permutation(len(out.labels["retain"]))[:n]
        ctx.memo["mia_efficacy"] = fn.mia_efficacy(
            fn.true_class_confidence(out.logits["retain"][pick], out.labels["retain"][pick]),
            fn.true_class_confidence(out.logits["test"], out.labels["test"]),
            fn.true_class_confidence(out.logits["forget"], out.labels["forget"]),
        )
    efficacy: float = ctx.memo["mia_efficacy"]
    return efficacy


class MIAEfficacy(Metric):
    description = "SVC confidence attack (retain vs test), fraction of forget samples called non-members"
    direction = "reference"
    goals = frozenset({"untraining"})
    notion = "untraining"
    requires_splits = ("retain", "forget", "test")

    def compute(self, ctx: EvalContext) -> float:
        return svc_mia_efficacy(ctx)


def gap_components(ctx: EvalContext) -> dict[str, float]:
    out = ctx.outputs
    return {
        "forget_acc": fn.accuracy(out.logits["forget"], out.labels["forget"]),
        "retain_acc": fn.accuracy(out.logits["retain"], out.labels["retain"]),
        "test_acc": fn.accuracy(out.logits["test"], out.labels["test"]),
        "mia_efficacy": svc_mia_efficacy(ctx),
    }


class AvgGap(Metric):
    description = "mean |difference to retrain| over forget/retain/test accuracy and MIA-efficacy, in points"
    direction = "lower"
    needs_reference = True
    goals = frozenset({"untraining"})
    notion = "untraining"
    requires_splits = ("retain", "forget", "test")

    def compute(self, ctx: EvalContext) -> float:
        reference = ctx.memo.setdefault("reference_gap_components", gap_components(ctx.for_reference("avg_gap")))
        return fn.avg_gap(gap_components(ctx), reference)


class WallTime(Metric):
    description = "unlearning wall time in seconds (retraining: its whole training)"
    direction = "lower"
    notion = "efficiency"
    task_kinds = ALL_KINDS

    def compute(self, ctx: EvalContext) -> float:
        return ctx.seconds


class Speedup(Metric):
    description = "retraining time / unlearning time"
    direction = "higher"
    needs_reference = True
    notion = "efficiency"
    task_kinds = ALL_KINDS

    def compute(self, ctx: EvalContext) -> float:
        _, reference_seconds = ctx.require_reference("speedup")
        return fn.speedup(reference_seconds, ctx.seconds)


class PeakMemory(Metric):
    description = "extra peak resident memory of the unlearning call, MiB (kernel VmHWM reset at the start; Linux)"
    direction = "lower"
    notion = "efficiency"
    task_kinds = ALL_KINDS

    def compute(self, ctx: EvalContext) -> float:
        if ctx.peak_memory_mib is None:
            raise MissingReferenceError("peak memory is read from /proc/self (Linux); it was not measured on this platform")
        return ctx.peak_memory_mib
