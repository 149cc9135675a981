"""Contract checks for unlearning methods: the analogue of scikit-learn's ``check_estimator``.

``check_method(MyMethod)`` runs every check on a tiny synthetic task of each
kind the method declares (``MyMethod.task_kinds``) and raises
:class:`MethodContractError` listing every check that failed. The checks:

* the declaration: a description, constraints for exactly the constructor's
  parameters, a search space over them, known kinds, role and empty-forget rule;
* hyper-parameter validation: every constraint's invalid example is refused
  with an :class:`~unlearnkit.errors.InvalidParameterError` naming it;
* on each declared kind: the input model is untouched and a new model is
  returned (with finite parameters and outputs, a time and JSON-ready
  diagnostics), or the setting is refused as unsuitable for this model
  (:class:`~unlearnkit.errors.UnsuitableSettingError`, e.g. an influence
  solve meeting negative curvature) with the input still untouched; the same
  seed gives the same model, or the same refusal; an empty forget set is
  handled as the method declares; a task of another kind is refused; a
  method with its own original stores and restores it exactly.

``method_checks(MyMethod)`` yields the checks one by one (name, callable),
for ``pytest.mark.parametrize``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache, partial
from typing import Any

import numpy as np
import torch
from torch import nn

from unlearnkit.errors import InvalidParameterError, UnsuitableSettingError
from unlearnkit.kinds.base import ExperimentKind, Prepared, ResolvedExperiment
from unlearnkit.kinds.registry import KINDS
from unlearnkit.methods.base import UnlearningMethod, UnlearnResult
from unlearnkit.params import constructor_parameters
from unlearnkit.progress import SilentProgress

Check = Callable[[], None]


class MethodContractError(AssertionError):
    """A method broke the contract; the message lists every failed check."""


def parameter_digest(model: nn.Module) -> str:
    """A hash of every parameter and buffer, to detect any modification."""
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().numpy().tobytes())
    return digest.hexdigest()


@dataclass(frozen=True, eq=False)
class ToyCase:
    """A kind's toy experiment, prepared, with an original trained on every training row."""

    kind: ExperimentKind[Any, Any]
    resolved: ResolvedExperiment
    prepared: Prepared[Any]
    original: nn.Module

    def task(self, seed: int, prepared: Prepared[Any] | None = None) -> Any:
        return self.kind.task(self.resolved, prepared or self.prepared, torch.Generator().manual_seed(seed), SilentProgress())

    def with_empty_forget(self) -> Prepared[Any]:
        split = self.prepared.split.with_forget(np.zeros(0, dtype=np.int64))
        return Prepared(self.prepared.data, split, self.prepared.fingerprint)


@cache
def toy_case(kind_name: str) -> ToyCase:
    """The toy case of a kind (cached per process; never mutated by the checks)."""
    kind = KINDS[kind_name]
    config = kind.config_model.model_validate(kind.toy_config())
    problems = kind.problems(config, f"{kind_name}.toy_config")
    if problems:
        raise ValueError("; ".join(problems))
    resolved = kind.resolve(config)
    prepared = kind.prepare(resolved, resolved.dataset.load())
    original, _ = kind.fit(resolved, prepared, prepared.split.train, torch.Generator().manual_seed(0), SilentProgress(), "toy original")
    return ToyCase(kind, resolved, prepared, original)


def _original_for(method: UnlearningMethod, case: ToyCase) -> nn.Module:
    return method.train_original(case.task(0)) if method.original == "own" else case.original


def _fail(message: str) -> None:
    raise MethodContractError(message)


def check_declaration(cls: type[UnlearningMethod]) -> None:
    parameters = set(constructor_parameters(cls))
    if not getattr(cls, "description", ""):
        _fail(f"{cls.__name__} has no description")
    if set(cls.parameter_constraints) != parameters:
        _fail(f"{cls.__name__}: constraints {sorted(cls.parameter_constraints)} != constructor parameters {sorted(parameters)}")
    if not set(cls.search_space) <= parameters:
        _fail(f"{cls.__name__}: search space names {sorted(set(cls.search_space) - parameters)}, which are not parameters")
    unknown = sorted(set(cls.task_kinds) - set(KINDS))
    if not cls.task_kinds or unknown:
        _fail(f"{cls.__name__}: task_kinds {sorted(cls.task_kinds)} must be non-empty registered kinds ({', '.join(KINDS)})")
    if cls.role not in ("retrain", "original", "method") or cls.empty_forget not in ("return_copy", "run"):
        _fail(f"{cls.__name__}: role {cls.role!r} or empty_forget {cls.empty_forget!r} is not one of the allowed values")
    if cls.original not in ("shared", "own"):
        _fail(f"{cls.__name__}: original {cls.original!r} must be 'shared' or 'own'")
    for point in _grid_points(cls):
        problems = cls.parameter_problems(point, cls.__name__)
        if problems:
            _fail(f"{cls.__name__}: a search-space point is invalid: {'; '.join(problems)}")


def _grid_points(cls: type[UnlearningMethod]) -> list[dict[str, Any]]:
    return [{name: value} for name, values in cls.search_space.items() for value in values]


def check_parameter_validation(cls: type[UnlearningMethod]) -> None:
    cls().validate_params()  # the defaults are valid
    for name, constraint in cls.parameter_constraints.items():
        bad = constraint.invalid_example()
        try:
            cls(**{name: bad}).validate_params()
        except InvalidParameterError as error:
            if f".{name}:" not in str(error):
                _fail(f"{cls.__name__}: the error for {name}={bad!r} does not name the parameter: {error}")
        else:
            _fail(f"{cls.__name__}: {name}={bad!r} was accepted")


def _result_problems(cls: type[UnlearningMethod], result: Any, case: ToyCase) -> list[str]:
    if not isinstance(result, UnlearnResult) or not isinstance(result.model, nn.Module):
        return [f"{cls.__name__}.unlearn returned {type(result).__name__}, not an UnlearnResult with a model"]
    problems = []
    if not isinstance(result.seconds, float) or not result.seconds >= 0:
        problems.append(f"seconds {result.seconds!r} is not a non-negative float")
    if not all(torch.isfinite(p).all() for p in result.model.parameters()):
        problems.append("the returned model has non-finite parameters")
    stored = case.kind.stored_outputs(case.kind.outputs(result.model, case.prepared), case.prepared)
    if not all(np.isfinite(logits).all() for logits, _ in stored.values()):
        problems.append("the returned model's outputs are not finite")
    try:
        json.dumps(result.diagnostics, default=str)
    except (TypeError, ValueError) as error:
        problems.append(f"diagnostics are not JSON-ready: {error}")
    return problems


def check_untouched_input(cls: type[UnlearningMethod], kind: str) -> None:
    case = toy_case(kind)
    method = cls()
    original = _original_for(method, case)
    before = parameter_digest(original)
    try:
        result = method.unlearn(original, case.task(3))
    except UnsuitableSettingError:
        # A documented outcome (the setting does not suit this model), e.g. influence's default damping on the toy CNN,
        # whose curvature is borderline: refusing is allowed, touching the input on the way is not.
        if parameter_digest(original) != before:
            _fail(f"{cls.__name__} modified the caller's model on a {kind} task before refusing the setting")
        return
    if parameter_digest(original) != before:
        _fail(f"{cls.__name__} modified the caller's model on a {kind} task")
    if result.model is original:
        _fail(f"{cls.__name__} returned the caller's model object instead of a new one")
    problems = _result_problems(cls, result, case)
    if problems:
        _fail(f"{cls.__name__} on a {kind} task: " + "; ".join(problems))


def check_seeded_determinism(cls: type[UnlearningMethod], kind: str) -> None:
    case = toy_case(kind)
    original = _original_for(cls(), case)

    def outcome() -> str:
        """The model's digest, or the refusal (an unsuitable setting must be refused the same way every time)."""
        try:
            return parameter_digest(cls().unlearn(original, case.task(5)).model)
        except UnsuitableSettingError as error:
            return f"refused: {error}"

    if outcome() != outcome():
        _fail(f"{cls.__name__}: two runs with the same seed gave different models (or refusals) on a {kind} task")


def check_empty_forget(cls: type[UnlearningMethod], kind: str) -> None:
    case = toy_case(kind)
    original = _original_for(cls(), case)
    result = cls().unlearn(original, case.task(1, case.with_empty_forget()))
    unchanged = parameter_digest(result.model) == parameter_digest(original)
    if cls.empty_forget == "return_copy" and not (unchanged and result.diagnostics == {"empty_forget": True}):
        _fail(f"{cls.__name__} declares empty_forget='return_copy' but changed the model or did not say so")
    if cls.empty_forget == "run" and unchanged:
        _fail(f"{cls.__name__} declares empty_forget='run' but returned the model unchanged")


def check_refuses_other_kinds(cls: type[UnlearningMethod], other: str) -> None:
    case = toy_case(other)
    try:
        cls().unlearn(case.original, case.task(0))
    except InvalidParameterError as error:
        if other not in str(error):
            _fail(f"{cls.__name__} refused a {other} task without saying which kind it got: {error}")
    else:
        _fail(f"{cls.__name__} declares {sorted(cls.task_kinds)} but accepted a {other} task")


def check_own_original_round_trip(cls: type[UnlearningMethod], kind: str) -> None:
    case = toy_case(kind)
    method = cls()
    task = case.task(0)
    original = method.train_original(task)
    state, meta = method.original_state(original)
    json.dumps(meta)
    restored = method.restore_original(task, state, meta)
    if parameter_digest(restored) != parameter_digest(original):
        _fail(f"{cls.__name__}: the restored own original differs from the one trained")
    a = case.kind.stored_outputs(case.kind.outputs(original, case.prepared), case.prepared)
    b = case.kind.stored_outputs(case.kind.outputs(restored, case.prepared), case.prepared)
    if any(not np.allclose(a[s][0], b[s][0]) for s in a):
        _fail(f"{cls.__name__}: the restored own original predicts differently")


def method_checks(cls: type[UnlearningMethod]) -> Iterator[tuple[str, Check]]:
    """Every contract check that applies to ``cls``, as (name, zero-argument callable)."""
    yield "declaration", partial(check_declaration, cls)
    yield "parameter_validation", partial(check_parameter_validation, cls)
    for kind in sorted(cls.task_kinds):
        yield f"untouched_input[{kind}]", partial(check_untouched_input, cls, kind)
        yield f"seeded_determinism[{kind}]", partial(check_seeded_determinism, cls, kind)
        yield f"empty_forget[{kind}]", partial(check_empty_forget, cls, kind)
        if cls.original == "own":
            yield f"own_original_round_trip[{kind}]", partial(check_own_original_round_trip, cls, kind)
    for other in sorted(set(KINDS) - set(cls.task_kinds)):
        yield f"refuses_other_kinds[{other}]", partial(check_refuses_other_kinds, cls, other)


def check_method(cls: type[UnlearningMethod]) -> None:
    """Run every contract check on ``cls``; raise :class:`MethodContractError` listing all failures."""
    failures = []
    for name, check in method_checks(cls):
        try:
            check()
        except MethodContractError as error:
            failures.append(f"{name}: {error}")
        except Exception as error:  # noqa: BLE001 - any crash is a contract failure, reported with its type
            failures.append(f"{name}: raised {type(error).__name__}: {error}")
    if failures:
        raise MethodContractError(f"{cls.__name__} fails {len(failures)} contract check(s):\n  " + "\n  ".join(failures))
