"""Registry of unlearning methods (retraining included)."""

from __future__ import annotations

from unlearnkit.methods.base import UnlearningMethod
from unlearnkit.methods.basic import (
    Finetune,
    NegGrad,
    NegGradPlus,
    RandomLabel,
    Retrain,
)
from unlearnkit.methods.recsys import RECOMMENDATION_METHODS
from unlearnkit.registry import Registry

METHODS: Registry[type[UnlearningMethod]] = Registry(
    "method",
    {
        "retrain": Retrain,
        "finetune": Finetune,
        "neggrad": NegGrad,
        "neggrad_plus": NegGradPlus,
        "random_label": RandomLabel,
        **RECOMMENDATION_METHODS,
    },
)
