"""The configuration schema shared by every kind of experiment (one ``[[experiment]]`` TOML table).

Structure only: pydantic checks types and shapes; the meaning (registry
names, hyper-parameter constraints, which methods suit which kind) is checked
by the experiment's kind (:meth:`unlearnkit.kinds.base.ExperimentKind.problems`).
A kind narrows ``kind`` and ``goal`` and may add fields of its own.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, NonNegativeInt, field_validator

Goal = Literal["untraining", "unlearning"]


class Component(BaseModel):
    """``{ name = "...", <hyper-parameters>... }``: a registry entry and its parameters."""

    model_config = ConfigDict(extra="allow", frozen=True)
    name: str

    @property
    def params(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class SimilarEntry(Component):
    """``similar = { name = "block_mask", block = 7, ratio = 0.25, copies = 10, seed = 0 }``: similar samples of the forget set.

    ``name`` and the remaining keys are a similar-sample constructor and its
    parameters; the experiment adds ``seed`` (the construction's own
    generator), ``doses`` (copies per target, dealt over the targets in turn:
    a dose-response design inside one experiment; replaces ``copies``) and
    ``heldout`` (fresh copies per target never trained on: the held-out
    split of the forget distribution). See :mod:`unlearnkit.data.similar.build`.
    """

    seed: int = Field(default=0, ge=0)
    doses: list[NonNegativeInt] | None = Field(default=None, min_length=1)
    heldout: int = Field(default=0, ge=0)


class MethodEntry(Component):
    """A method to run; ``label`` tells apart two entries of the same method (e.g. two modes).

    ``forget`` (optional) expands the experiment's forget set S for this
    method only, e.g. ``{ name = "neighbourhood" }``: the method unlearns
    S u N(S) (the remedy), while every metric still reads S and the same
    reference models.
    """

    label: str | None = None
    forget: Component | None = None

    @property
    def display_name(self) -> str:
        return self.label or self.name


def as_components(entries: list[str | Component]) -> list[Component]:
    return [Component(name=e) if isinstance(e, str) else e for e in entries]


def _duplicates(names: list[str]) -> list[str]:
    return sorted({n for n in names if names.count(n) > 1})


class ExperimentFields(BaseModel):
    """Fields and structural rules of every kind of experiment."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: str = "classification"
    name: str = Field(min_length=1)
    goal: Goal = "untraining"
    seeds: list[int] = Field(min_length=1)
    dataset: Component
    split: dict[str, Any] = Field(default_factory=dict)
    forget: Component
    # Near-copies or neighbours of the forget set S (kinds with similar samples only).
    similar: SimilarEntry | None = None
    model: Component
    train: dict[str, Any] = Field(default_factory=dict)
    methods: list[MethodEntry] = Field(min_length=1)
    metrics: list[str | Component] = Field(min_length=1)
    # Computed at report time from stored outputs; changing them never re-runs anything.
    population_metrics: list[str | Component] = Field(default_factory=list)

    @field_validator("seeds")
    @classmethod
    def _distinct_non_negative(cls, seeds: list[int]) -> list[int]:
        if len(set(seeds)) != len(seeds) or min(seeds) < 0:
            raise ValueError("seeds must be distinct non-negative integers")
        return seeds

    @field_validator("methods")
    @classmethod
    def _distinct_labels(cls, methods: list[MethodEntry]) -> list[MethodEntry]:
        duplicates = _duplicates([m.display_name for m in methods])
        if duplicates:
            raise ValueError(f"methods {duplicates} appear twice; give each a distinct 'label'")
        return methods

    @field_validator("metrics")
    @classmethod
    def _distinct_metrics(cls, metrics: list[str | Component]) -> list[str | Component]:
        duplicates = _duplicates([c.name for c in as_components(metrics)])
        if duplicates:
            raise ValueError(f"metrics {duplicates} appear twice")
        return metrics

    def metric_components(self) -> list[Component]:
        return as_components(self.metrics)

    def population_components(self) -> list[Component]:
        return as_components(self.population_metrics)
