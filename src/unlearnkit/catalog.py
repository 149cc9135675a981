"""Every registry, by the name ``unlearnkit list`` shows it under: the one list contract tests iterate over."""

from __future__ import annotations

from typing import Any

from unlearnkit.data.registry import (
    DATASETS,
    INTERACTION_DATASETS,
    INTERACTION_SELECTORS,
    INTERACTION_SPLITS,
    SELECTORS,
    SPLITS,
)
from unlearnkit.data.similar.registry import FORGET_EXPANSIONS, SIMILAR_CONSTRUCTORS
from unlearnkit.data.text.registry import TEXT_DATASETS
from unlearnkit.kinds.language_model import CORPUS_SELECTORS
from unlearnkit.kinds.registry import KINDS
from unlearnkit.methods.registry import METHODS
from unlearnkit.metrics.registry import METRICS, POPULATION_METRICS
from unlearnkit.models.registry import MODELS, RECOMMENDERS
from unlearnkit.models.text.registry import LANGUAGE_MODELS, TEXT_CLASSIFIERS
from unlearnkit.registry import Registry

REGISTRIES: dict[str, Registry[Any]] = {
    "kinds": KINDS,
    "methods": METHODS,
    "metrics": METRICS,
    "population_metrics": POPULATION_METRICS,
    "datasets": DATASETS,
    "models": MODELS,
    "selectors": SELECTORS,
    "splits": SPLITS,
    # Recommendation experiments (kind = "recommendation") draw from these.
    "interaction_datasets": INTERACTION_DATASETS,
    "interaction_selectors": INTERACTION_SELECTORS,
    "interaction_splits": INTERACTION_SPLITS,
    "recommenders": RECOMMENDERS,
    # Text classification (kind = "text_classification") and language models (kind = "language_model").
    "text_datasets": TEXT_DATASETS,
    "text_classifiers": TEXT_CLASSIFIERS,
    "language_models": LANGUAGE_MODELS,
    "corpus_selectors": CORPUS_SELECTORS,
    # Similar samples of the forget set (an experiment's `similar`) and the remedy (a method's `forget`).
    "similar": SIMILAR_CONSTRUCTORS,
    "forget_expansions": FORGET_EXPANSIONS,
}
