"""Metric classes for one unlearned model: the entropy MIA and Tug-of-War.

The population metrics (F, KLoM, per-example U-MIA) need N unlearned and N
retrained models and live as functions in :mod:`.population`; these read the
single-model :class:`EvalContext`.
"""

from __future__ import annotations

import numpy as np
import torch

from unlearnkit.metrics import attacks, population
from unlearnkit.metrics import functional as fn
from unlearnkit.metrics.base import EvalContext, Metric, ModelOutputs
from unlearnkit.metrics.standard import svc_mia_efficacy


def _probs(outputs: ModelOutputs, split: str) -> np.ndarray:
    return torch.softmax(outputs.logits[split].double(), dim=1).numpy()


class EntropyMIA(Metric):
    description = "entropy-LR MIA (SCRUB/SSD): fraction of forget samples called members by a retain-vs-test attack"
    direction = "reference"
    goals = frozenset({"untraining"})
    notion = "untraining"
    requires_splits = ("retain", "forget", "test")

    def compute(self, ctx: EvalContext) -> float:
        out = ctx.outputs
        return attacks.entropy_mia(_probs(out, "retain"), _probs(out, "test"), _probs(out, "forget"))


def _accuracies(outputs: ModelOutputs) -> tuple[float, float, float]:
    """Forget, retain and test accuracy."""
    forget, retain, test = (fn.accuracy(outputs.logits[s], outputs.labels[s]) for s in ("forget", "retain", "test"))
    return forget, retain, test


class ToW(Metric):
    description = "Tug-of-War (RUM): product of 1 - |accuracy gap to retrain| on forget, retain and test; 1 = oracle"
    direction = "higher"
    needs_reference = True
    goals = frozenset({"untraining"})
    notion = "untraining"
    requires_splits = ("retain", "forget", "test")

    def compute(self, ctx: EvalContext) -> float:
        reference, _ = ctx.require_reference("tow")
        fa_u, ra_u, ta_u = _accuracies(ctx.outputs)
        fa_r, ra_r, ta_r = _accuracies(reference)
        return population.tow(fa_u, fa_r, ra_u, ra_r, ta_u, ta_r)


class ToWMIA(Metric):
    description = "ToW with the forget-accuracy factor replaced by 1 - |SVC MIA-efficacy gap to retrain|"
    direction = "higher"
    needs_reference = True
    goals = frozenset({"untraining"})
    notion = "untraining"
    requires_splits = ("retain", "forget", "test")

    def compute(self, ctx: EvalContext) -> float:
        reference, _ = ctx.require_reference("tow_mia")
        if "reference_mia_efficacy" not in ctx.memo:
            ctx.memo["reference_mia_efficacy"] = svc_mia_efficacy(ctx.for_reference("tow_mia"))
        _, ra_u, ta_u = _accuracies(ctx.outputs)
        _, ra_r, ta_r = _accuracies(reference)
        return population.tow_mia(svc_mia_efficacy(ctx), ctx.memo["reference_mia_efficacy"], ra_u, ra_r, ta_u, ta_r)
