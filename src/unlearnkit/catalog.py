"""Every registry, by the name ``unlearnkit list`` shows it under: the one list contract tests iterate over."""

from __future__ import annotations

from typing import Any

from unlearnkit.data.registry import DATASETS, INTERACTION_DATASETS, INTERACTION_SELECTORS, SELECTORS
from unlearnkit.kinds.registry import KINDS
from unlearnkit.methods.registry import METHODS
from unlearnkit.metrics.registry import METRICS, POPULATION_METRICS
from unlearnkit.models.registry import MODELS, RECOMMENDERS
from unlearnkit.registry import Registry

REGISTRIES: dict[str, Registry[Any]] = {
    "kinds": KINDS,
    "methods": METHODS,
    "metrics": METRICS,
    "population_metrics": POPULATION_METRICS,
    "datasets": DATASETS,
    "models": MODELS,
    "selectors": SELECTORS,
    # Recommendation experiments (kind = "recommendation") draw from these.
    "interaction_datasets": INTERACTION_DATASETS,
    "interaction_selectors": INTERACTION_SELECTORS,
    "recommenders": RECOMMENDERS,
}
