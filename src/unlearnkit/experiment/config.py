"""Experiment configuration files (TOML), validated up front.

Structure is checked by pydantic, meaning (registry names, hyper-parameter
constraints, goal/selector pairing) by the registries' own constraints. Every
problem is collected with its key path and reported at once, before anything
is trained or written.
"""

from __future__ import annotations

import tomllib
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from unlearnkit.errors import ConfigError
from unlearnkit.experiment.resolve import semantic_problems


class Component(BaseModel):
    """``{ name = "...", <hyper-parameters>... }``: a registry entry and its parameters."""

    model_config = ConfigDict(extra="allow", frozen=True)
    name: str

    @property
    def params(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class MethodEntry(Component):
    """A method to run; ``label`` tells apart two entries of the same method (e.g. two modes)."""

    label: str | None = None

    @property
    def params(self) -> dict[str, Any]:
        return {k: v for k, v in (self.model_extra or {}).items()}

    @property
    def display_name(self) -> str:
        return self.label or self.name


class ExperimentFields(BaseModel):
    """Fields and rules shared by every kind of experiment (image and recommendation)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1)
    seeds: list[int] = Field(min_length=1)
    dataset: Component
    split: dict[str, Any] = Field(default_factory=dict)
    forget: Component
    model: Component
    train: dict[str, Any] = Field(default_factory=dict)
    methods: list[MethodEntry] = Field(min_length=1)
    metrics: list[str | Component] = Field(min_length=1)

    @field_validator("seeds")
    @classmethod
    def _distinct_non_negative(cls, seeds: list[int]) -> list[int]:
        if len(set(seeds)) != len(seeds) or min(seeds) < 0:
            raise ValueError("seeds must be distinct non-negative integers")
        return seeds

    @field_validator("methods")
    @classmethod
    def _distinct_labels(cls, methods: list[MethodEntry]) -> list[MethodEntry]:
        names = [m.display_name for m in methods]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"methods {duplicates} appear twice; give each a distinct 'label'")
        return methods

    def metric_components(self) -> list[Component]:
        return [Component(name=m) if isinstance(m, str) else m for m in self.metrics]


class ExperimentConfig(ExperimentFields):
    # Recommendation experiments (kind = "recommendation") are validated by recsys_config.py.
    kind: Literal["classification"] = "classification"
    goal: Literal["untraining", "unlearning"] = "untraining"
    # Computed at report time from stored outputs; changing them never re-runs anything.
    population_metrics: list[str | Component] = Field(default_factory=list)

    def population_components(self) -> list[Component]:
        return [Component(name=m) if isinstance(m, str) else m for m in self.population_metrics]


def key_path(prefix: str, loc: tuple[Any, ...]) -> str:
    path = prefix
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path


def load_config(path: str) -> list[Any]:
    """Read and fully validate a configuration file; raise :class:`ConfigError` listing every problem.

    Returns :class:`ExperimentConfig` and, for ``kind = "recommendation"``
    tables, ``RecommendationExperimentConfig`` entries, in file order.
    """
    from unlearnkit.experiment.recsys_config import (
        validate_other_kind,  # imports this module
    )
    try:
        with open(path, "rb") as handle:
            raw = tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(path, ["file not found"]) from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(path, [f"not valid TOML: {error}"]) from None
    problems: list[str] = []
    unknown = sorted(set(raw) - {"experiment"})
    if unknown:
        problems.append(f"unknown top-level key(s) {unknown}; expected [[experiment]] tables")
    entries = raw.get("experiment")
    if not isinstance(entries, list) or not entries:
        problems.append("experiment: at least one [[experiment]] table is required")
        raise ConfigError(path, problems)
    experiments: list[Any] = []
    for index, entry in enumerate(entries):
        where = f"experiment[{index}]"
        other = validate_other_kind(entry, where)
        if other is not None:
            other_experiment, other_problems = other
            problems += other_problems
            if other_experiment is not None:
                experiments.append(other_experiment)
            continue
        try:
            experiment = ExperimentConfig.model_validate(entry)
        except ValidationError as error:
            problems += [f"{key_path(where, e['loc'])}: {e['msg']}" for e in error.errors()]
            continue
        problems += semantic_problems(experiment, where)
        experiments.append(experiment)
    names = [e.name for e in experiments]
    problems += [f"experiment name {n!r} is used twice" for n in sorted({n for n in names if names.count(n) > 1})]
    if problems:
        raise ConfigError(path, problems)
    return experiments
