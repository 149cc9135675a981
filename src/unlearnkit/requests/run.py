"""One deletion request: validate everything, run the method through the kind, measure before and after."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from unlearnkit.errors import InvalidParameterError
from unlearnkit.kinds.registry import KINDS
from unlearnkit.kinds.schema import MethodEntry
from unlearnkit.methods.registry import METHODS
from unlearnkit.progress import SilentProgress
from unlearnkit.requests.base import DeletionResult, RequestAdapter, RequestPlan
from unlearnkit.requests.classification import ClassificationRequests
from unlearnkit.requests.recommendation import RecommendationRequests
from unlearnkit.requests.selection import SelectionOptions, select_oracle_free
from unlearnkit.requests.verification import verification_metrics

# Asked in order; the first that accepts the model serves the request.
ADAPTERS: tuple[RequestAdapter, ...] = (RecommendationRequests(), ClassificationRequests())


def adapter_for(model: nn.Module) -> RequestAdapter:
    if not isinstance(model, nn.Module):
        raise InvalidParameterError(f"model: expected a torch.nn.Module; got {type(model).__name__}")
    return next(adapter for adapter in ADAPTERS if adapter.accepts(model))


def method_entry(adapter: RequestAdapter, method: str, params: dict[str, Any]) -> MethodEntry:
    """The validated method entry: a known method of the model's kind with valid hyper-parameters."""
    if not isinstance(method, str):
        raise InvalidParameterError(f"method: expected a registry name such as 'scrub'; got {type(method).__name__}")
    METHODS[method]  # an unknown name raises, suggesting the closest one
    entry = MethodEntry(name=method, **params)
    problems = KINDS[adapter.kind_name].method_problems(entry, method)
    if problems:
        raise InvalidParameterError("; ".join(problems))
    cls = METHODS[method]
    if cls.original == "own":
        raise InvalidParameterError(
            f"method {method!r} unlearns from an original of its own (a sharded ensemble trained its way), "
            "so it cannot unlearn a model you trained; choose another method"
        )
    return entry


def plan_request(
    model: nn.Module, train_data: Any, forget_ids: Any, *, method: str, validation: Any, recipe: Any,
    model_factory: Any, forget_unit: str, seed: int, params: dict[str, Any],
) -> tuple[RequestAdapter, RequestPlan]:
    """Every check of a request (method, hyper-parameters, data, ids, model), before anything runs."""
    adapter = adapter_for(model)
    entry = method_entry(adapter, method, params)
    instance = METHODS[method](**params)
    kind = KINDS[adapter.kind_name]
    return adapter, adapter.plan(
        kind, entry, instance, model, train_data, validation, forget_ids, forget_unit, recipe, model_factory, seed
    )


def run_request(adapter: RequestAdapter, plan: RequestPlan, seed: int, selection: SelectionOptions | None = None) -> DeletionResult:
    """Run a planned request: the method on the kind's task (seeded), with the verification metrics before and after.

    With ``selection`` the hyper-parameters are first selected oracle-free
    (:mod:`unlearnkit.requests.selection`; check the plan with
    :func:`~unlearnkit.requests.selection.check_selectable` first) and the
    result records the selection.
    """
    record = None
    if selection is not None:
        plan, record = select_oracle_free(plan, selection, seed)
    kind, resolved, prepared = plan.kind, plan.resolved, plan.prepared
    before = verification_metrics(adapter.outputs(plan, plan.original))
    task = kind.task(resolved, prepared, torch.Generator().manual_seed(seed), SilentProgress())
    result = plan.method.unlearn(plan.original, task)
    after = verification_metrics(adapter.outputs(plan, result.model))
    return DeletionResult(
        model=adapter.delivered(result.model),
        seconds=result.seconds,
        metrics={"before": before, "after": after},
        method=resolved.methods[0][0],
        # The values the method ran with: task-derived defaults (None in the constructor) filled in.
        params={**plan.method.get_params(), **result.diagnostics.get("resolved_params", {})},
        kind=kind.name,
        forget_count=int(prepared.split.forget.size),
        diagnostics=result.diagnostics,
        selection=record,
    )
