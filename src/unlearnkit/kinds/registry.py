"""The kind registry: every kind of experiment the one skeleton can run.

A kind is one module (or package) defining an :class:`ExperimentKind`, plus
one line here.
"""

from __future__ import annotations

from typing import Any

from unlearnkit.kinds.base import ExperimentKind
from unlearnkit.kinds.classification import ClassificationKind
from unlearnkit.kinds.language_model import LanguageModelKind
from unlearnkit.kinds.recommendation import RecommendationKind
from unlearnkit.kinds.text_classification import TextClassificationKind
from unlearnkit.registry import Registry

KINDS: Registry[ExperimentKind[Any, Any]] = Registry(
    "experiment kind",
    {
        "classification": ClassificationKind(),
        "recommendation": RecommendationKind(),
        "text_classification": TextClassificationKind(),
        "language_model": LanguageModelKind(),
    },
)
