"""What every kind's deletion request shares: the request as an experiment of the kind, and its result.

A deletion request on a model of your own is a one-seed, one-method
experiment of a registered kind whose data, split, forget set and model are
given instead of drawn from the registries. :class:`RequestPlan` holds the
kind's own :class:`~unlearnkit.kinds.base.ResolvedExperiment` and
:class:`~unlearnkit.kinds.base.Prepared` objects, so the task, the outputs
and the stored outputs are the kind's (no second code path).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

from torch import nn

from unlearnkit.kinds.base import ExperimentKind, Prepared, ResolvedExperiment, StoredOutputs
from unlearnkit.kinds.schema import ExperimentFields, MethodEntry
from unlearnkit.methods.base import UnlearningMethod


@dataclass(frozen=True, eq=False)
class OwnData:
    """The caller's data as a dataset source of the kind (``load`` returns it as given)."""

    data: Any
    description: str

    def load(self) -> Any:
        return self.data

    def get_params(self) -> dict[str, Any]:
        return {"description": self.description}


def request_config(kind: ExperimentKind[Any, Any], entry: MethodEntry, seed: int) -> ExperimentFields:
    """The request as the kind's experiment configuration (names say the components are the caller's own)."""
    return kind.config_model.model_validate(
        {
            "kind": kind.name,
            "name": "deletion_request",
            "seeds": [seed],
            "dataset": {"name": "own_data"},
            "forget": {"name": "forget_ids"},
            "model": {"name": "own_model"},
            "methods": [entry.model_dump(exclude_none=True)],
            "metrics": ["wall_time"],
        }
    )


@dataclass(frozen=True, eq=False)
class RequestPlan:
    """A deletion request ready to run: the kind, its resolved components and prepared data, and the starting model."""

    kind: ExperimentKind[Any, Any]
    resolved: ResolvedExperiment
    prepared: Prepared[Any]
    original: nn.Module  # the caller's model as the kind's methods read it (never modified)

    @property
    def method(self) -> UnlearningMethod:
        return self.resolved.methods[0][1]


class RequestAdapter(ABC):
    """One kind's side of a deletion request: the caller's inputs in, per-split outputs out."""

    kind_name: str

    @abstractmethod
    def accepts(self, model: nn.Module) -> bool:
        """Whether a request on ``model`` belongs to this kind."""

    @abstractmethod
    def plan(
        self,
        kind: ExperimentKind[Any, Any],
        entry: MethodEntry,
        method: UnlearningMethod,
        model: nn.Module,
        train_data: Any,
        validation: Any,
        forget_ids: Any,
        forget_unit: str,
        recipe: Any,
        model_factory: Any,
        seed: int,
    ) -> RequestPlan:
        """Check every input and build the request (nothing is trained here)."""

    @abstractmethod
    def outputs(self, plan: RequestPlan, model: nn.Module) -> StoredOutputs:
        """Per-split logits and labels of ``model`` on forget, retain and validation data."""

    @abstractmethod
    def delivered(self, model: nn.Module) -> nn.Module:
        """The unlearned model as the caller's kind of module."""


@dataclass(frozen=True, eq=False)
class DeletionResult:
    """The outcome of :func:`unlearnkit.unlearn`.

    ``model`` is a new model (the caller's is untouched); ``seconds`` the
    method's wall time; ``metrics`` the verification metrics (see
    :mod:`unlearnkit.requests.verification`) of the model ``"before"`` and
    ``"after"`` the request; ``method`` the registry name and ``params`` every
    hyper-parameter the method ran with (defaults filled in). ``selection``
    is None unless the hyper-parameters were selected
    (``select="oracle_free"``): then the chosen setting (``"chosen"``), its
    score, the budget, seed, tolerance and the original's training seconds
    (None when not given), the seconds the trials took, and every trial's
    parameters, seconds, score, time term, feasibility and criteria
    (``"trials"``), as plain JSON values (see :mod:`unlearnkit.requests.selection`).
    """

    model: nn.Module
    seconds: float
    metrics: dict[str, dict[str, float]]
    method: str
    params: dict[str, Any]
    kind: str
    forget_count: int
    diagnostics: dict[str, Any] = field(default_factory=dict)
    selection: dict[str, Any] | None = None
