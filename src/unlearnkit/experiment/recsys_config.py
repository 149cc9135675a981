"""Recommendation experiments in the same TOML files: ``kind = "recommendation"``.

An ``[[experiment]]`` table without ``kind`` (or with ``kind =
"classification"``) is an image experiment (:mod:`.config`); with ``kind =
"recommendation"`` it is validated here, by the same rules: structure by
pydantic, meaning by the recommendation registries' constraints, every
problem collected with its key path before anything is trained or written.

    [[experiment]]
    kind = "recommendation"
    name = "ml100k_mf_flip5"
    seeds = [0, 1, 2]
    dataset = { name = "movielens100k" }
    split = { seed = 1024 }                    # InteractionSplitSpec
    forget = { name = "flip_labels", fraction = 0.05 }
    model = { name = "mf", dim = 64 }
    train = { lr = 1e-2, l2 = 0.1 }            # RecTrainSpec (early stopping on validation AUC)
    metrics = ["test_auc", "auc_recovery", "wall_time", "speedup"]
    [[experiment.methods]]
    name = "ifru"
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import ValidationError, field_validator

from unlearnkit.experiment.config import Component, ExperimentFields, key_path

EXPERIMENT_KINDS = ("classification", "recommendation")


class RecommendationExperimentConfig(ExperimentFields):
    kind: Literal["recommendation"]
    # The reference is retraining without the forget rows: "untraining" in the toolkit's terms.
    goal: Literal["untraining"] = "untraining"

    @field_validator("metrics")
    @classmethod
    def _distinct_metrics(cls, metrics: list[str | Component]) -> list[str | Component]:
        names = [m if isinstance(m, str) else m.name for m in metrics]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"metrics {duplicates} appear twice")
        return metrics


def validate_other_kind(entry: Any, where: str) -> tuple[RecommendationExperimentConfig | None, list[str]] | None:
    """The dispatch hook of :func:`unlearnkit.experiment.config.load_config`.

    Returns None for a classification entry (validated by ``config.py``);
    otherwise the validated recommendation experiment (None if invalid) and
    every problem found, with key paths under ``where``.
    """
    kind = entry.get("kind", "classification") if isinstance(entry, dict) else "classification"
    if kind == "classification":
        return None
    if kind not in EXPERIMENT_KINDS:
        return None, [f"{where}.kind: unknown experiment kind {kind!r}; expected one of {', '.join(map(repr, EXPERIMENT_KINDS))}"]
    from unlearnkit.experiment.recsys_resolve import recommendation_problems

    try:
        experiment = RecommendationExperimentConfig.model_validate(entry)
    except ValidationError as error:
        return None, [f"{key_path(where, e['loc'])}: {e['msg']}" for e in error.errors()]
    return experiment, recommendation_problems(experiment, where)
