"""Declarative hyper-parameter constraints (the scikit-learn pattern).

A component (method, model, selector, dataset) stores its hyper-parameters in
its constructor and declares ``parameter_constraints``; validation happens at
the boundary (config loading, and at the start of the component's work), with
one message template naming the parameter, what is allowed and what was given.
Because constraints are data, contract tests derive invalid values from them.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, Protocol, Self

from unlearnkit.errors import InvalidParameterError
from unlearnkit.registry import did_you_mean


class Constraint(Protocol):
    def accepts(self, value: Any) -> bool: ...
    def describe(self) -> str: ...
    def invalid_example(self) -> Any: ...


@dataclass(frozen=True)
class Interval:
    """A real or integer number in an interval; ``None`` bounds are open-ended."""

    kind: type
    low: float | None
    high: float | None
    closed: Literal["both", "left", "right", "neither"] = "both"

    def accepts(self, value: Any) -> bool:
        if isinstance(value, bool):
            return False
        if self.kind is int and not isinstance(value, int):
            return False
        if self.kind is float and not isinstance(value, (int, float)):
            return False
        if isinstance(value, float) and not math.isfinite(value):
            return False
        if self.low is not None and (value < self.low or (value == self.low and self.closed in ("right", "neither"))):
            return False
        if self.high is not None and (value > self.high or (value == self.high and self.closed in ("left", "neither"))):
            return False
        return True

    def describe(self) -> str:
        left = "[" if self.closed in ("both", "left") else "("
        right = "]" if self.closed in ("both", "right") else ")"
        low = "-inf" if self.low is None else repr(self.low)
        high = "inf" if self.high is None else repr(self.high)
        return f"{'an int' if self.kind is int else 'a float'} in {left}{low}, {high}{right}"

    def invalid_example(self) -> Any:
        if self.low is not None:
            return self.kind(self.low - 1) if self.closed in ("both", "left") else self.kind(self.low)
        if self.high is not None:
            return self.kind(self.high + 1)
        return "not a number"


@dataclass(frozen=True)
class Options:
    """One of a fixed set of values."""

    values: tuple[Any, ...]

    def accepts(self, value: Any) -> bool:
        return any(value == v and type(value) is type(v) for v in self.values)

    def describe(self) -> str:
        return "one of " + ", ".join(repr(v) for v in self.values)

    def invalid_example(self) -> Any:
        return "__not_an_option__"


@dataclass(frozen=True)
class Boolean:
    def accepts(self, value: Any) -> bool:
        return isinstance(value, bool)

    def describe(self) -> str:
        return "a bool"

    def invalid_example(self) -> Any:
        return "yes"


@dataclass(frozen=True)
class IntList:
    """A non-empty list of distinct ints, each >= ``low``."""

    low: int = 0

    def accepts(self, value: Any) -> bool:
        return (
            isinstance(value, (list, tuple))
            and len(value) > 0
            and all(isinstance(v, int) and not isinstance(v, bool) and v >= self.low for v in value)
            and len(set(value)) == len(value)
        )

    def describe(self) -> str:
        return f"a non-empty list of distinct ints >= {self.low}"

    def invalid_example(self) -> Any:
        return []


@dataclass(frozen=True)
class Text:
    def accepts(self, value: Any) -> bool:
        return isinstance(value, str) and len(value) > 0

    def describe(self) -> str:
        return "a non-empty string"

    def invalid_example(self) -> Any:
        return ""


@dataclass(frozen=True)
class NoneOr:
    inner: Constraint

    def accepts(self, value: Any) -> bool:
        return value is None or self.inner.accepts(value)

    def describe(self) -> str:
        return f"None or {self.inner.describe()}"

    def invalid_example(self) -> Any:
        return self.inner.invalid_example()


def constructor_parameters(cls: type[object]) -> list[str]:
    """Names of the keyword parameters of ``cls.__init__`` (excluding ``self``)."""
    signature = inspect.signature(cls.__init__)
    return [
        name
        for name, p in signature.parameters.items()
        if name != "self" and p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]


class Configurable:
    """Mixin for components whose constructor takes only validated hyper-parameters."""

    parameter_constraints: ClassVar[dict[str, Constraint]] = {}

    def get_params(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in constructor_parameters(type(self))}

    @classmethod
    def parameter_problems(cls, params: Mapping[str, Any], where: str) -> list[str]:
        """Every problem with ``params`` for this class, as messages prefixed by ``where``."""
        allowed = constructor_parameters(cls)
        problems = [
            f"{where}.{key}: unknown parameter of {cls.__name__}; allowed: {', '.join(allowed) or '(none)'}{did_you_mean(key, allowed)}"
            for key in params
            if key not in allowed
        ]
        for key, value in params.items():
            constraint = cls.parameter_constraints.get(key)
            if constraint is not None and not constraint.accepts(value):
                problems.append(f"{where}.{key}: must be {constraint.describe()}; got {value!r}")
        if not problems:
            defaults = {
                name: p.default
                for name, p in inspect.signature(cls.__init__).parameters.items()
                if name != "self" and p.default is not inspect.Parameter.empty
            }
            problems += [f"{where}: {msg}" for msg in cls.combination_problems({**defaults, **params})]
        return problems

    @classmethod
    def combination_problems(cls, params: Mapping[str, Any]) -> list[str]:
        """Problems that involve several parameters at once (override when needed)."""
        return []

    def validate_params(self) -> None:
        """Raise :class:`InvalidParameterError` naming every invalid parameter (the same checks as ``parameter_problems``)."""
        problems = self.parameter_problems(self.get_params(), type(self).__name__)
        if problems:
            raise InvalidParameterError("; ".join(problems))

    @classmethod
    def from_params(cls, params: Mapping[str, Any], where: str | None = None) -> Self:
        """An instance from user-given parameters, validated once (every problem reported together)."""
        problems = cls.parameter_problems(params, where or cls.__name__)
        if problems:
            raise InvalidParameterError("; ".join(problems))
        return cls(**dict(params))

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"


def require_keys(mapping: Mapping[str, Any], required: Sequence[str], where: str) -> list[str]:
    return [f"{where}.{key}: required" for key in required if key not in mapping]
