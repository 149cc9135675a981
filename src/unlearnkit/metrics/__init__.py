"""Metric stage: metric classes, their registry, and the pure formulas.

``from unlearnkit.metrics import nomus`` gives the formula on plain numbers.
"""

from unlearnkit.metrics.base import EvalContext, Metric, ModelOutputs
from unlearnkit.metrics.functional import (
    accuracy,
    avg_gap,
    forgetting_score,
    mia_efficacy,
    mia_loss_lr,
    nomus,
    per_example_loss,
    speedup,
    true_class_confidence,
)
from unlearnkit.metrics.registry import METRICS

__all__ = [
    "METRICS",
    "EvalContext",
    "Metric",
    "ModelOutputs",
    "accuracy",
    "avg_gap",
    "forgetting_score",
    "mia_efficacy",
    "mia_loss_lr",
    "nomus",
    "per_example_loss",
    "speedup",
    "true_class_confidence",
]
