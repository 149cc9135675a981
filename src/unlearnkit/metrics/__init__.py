"""Metric stage: metric classes, their registry, and the pure formulas.

``from unlearnkit.metrics import nomus`` gives the formula on plain numbers;
population metrics over N unlearned and N retrained models (F, KLoM,
per-example U-MIA) are functions on ``(n_models, n_examples)`` arrays.
"""

from unlearnkit.metrics.attacks import (
    confidence_scores,
    entropy_mia,
    loss_threshold_mia_auc,
    membership_auc,
    prediction_entropy,
)
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
from unlearnkit.metrics.population import (
    UMIAResult,
    bootstrap_ci,
    challenge_score,
    epsilon_points,
    forgetting_epsilons,
    forgetting_quality,
    klom,
    logit_scaled_confidence,
    margins,
    tow,
    tow_mia,
    u_mia,
)
from unlearnkit.metrics.registry import METRICS, POPULATION_METRICS

__all__ = [
    "METRICS",
    "POPULATION_METRICS",
    "EvalContext",
    "Metric",
    "ModelOutputs",
    "UMIAResult",
    "accuracy",
    "avg_gap",
    "bootstrap_ci",
    "challenge_score",
    "confidence_scores",
    "entropy_mia",
    "epsilon_points",
    "forgetting_epsilons",
    "forgetting_quality",
    "forgetting_score",
    "klom",
    "logit_scaled_confidence",
    "loss_threshold_mia_auc",
    "margins",
    "membership_auc",
    "mia_efficacy",
    "mia_loss_lr",
    "nomus",
    "per_example_loss",
    "prediction_entropy",
    "speedup",
    "tow",
    "tow_mia",
    "true_class_confidence",
    "u_mia",
]
