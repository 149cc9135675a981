from __future__ import annotations

import pytest

from unlearnkit.errors import InvalidParameterError, UnknownNameError
from unlearnkit.methods import METHODS
from unlearnkit.params import Configurable, Interval, NoneOr, Options
from unlearnkit.registry import Registry


def test_unknown_name_lists_what_exists() -> None:
    with pytest.raises(UnknownNameError) as info:
        METHODS["no_such_method"]
    message = str(info.value)
    assert "no_such_method" in message
    for name in METHODS:
        assert name in message


def test_duplicate_registration_refused_unless_forced() -> None:
    registry = Registry("thing", {"a": 1})
    with pytest.raises(ValueError, match="already registered"):
        registry.register("a", 2)
    registry.register("a", 3, force=True)
    assert registry["a"] == 3


def test_registry_names_must_be_snake_case() -> None:
    with pytest.raises(ValueError, match="lower_snake_case"):
        Registry("thing", {"Bad-Name": 1})


class _Example(Configurable):
    parameter_constraints = {"lr": Interval(float, 0.0, None, "neither"), "mode": Options(("a", "b")), "k": NoneOr(Interval(int, 1, 5))}

    def __init__(self, *, lr: float = 0.1, mode: str = "a", k: int | None = None) -> None:
        self.lr = lr
        self.mode = mode
        self.k = k


def test_parameter_problems_name_key_allowed_and_received() -> None:
    problems = _Example.parameter_problems({"lr": -1.0, "mode": "c", "oops": 1}, "method")
    assert "method.oops: unknown parameter of _Example; allowed: lr, mode, k" in problems
    assert "method.lr: must be a float in (0.0, inf); got -1.0" in problems
    assert "method.mode: must be one of 'a', 'b'; got 'c'" in problems
    assert len(problems) == 3


def test_validate_params_raises_value_and_type_error_compatible() -> None:
    with pytest.raises(ValueError, match=r"_Example.k: must be None or an int in \[1, 5\]; got 7"):
        _Example(k=7).validate_params()
    with pytest.raises(TypeError):
        _Example(lr=float("nan")).validate_params()
    with pytest.raises(InvalidParameterError):
        _Example(mode=True).validate_params()  # type: ignore[arg-type]  # a bool where a string is declared is the point


def test_interval_rejects_bool_and_wrong_kind() -> None:
    constraint = Interval(int, 0, 10)
    assert constraint.accepts(3)
    assert not constraint.accepts(True)
    assert not constraint.accepts(3.0)
    assert not constraint.accepts(11)
    assert not constraint.accepts(constraint.invalid_example())


def test_get_params_round_trip() -> None:
    example = _Example(lr=0.5, mode="b", k=2)
    assert example.get_params() == {"lr": 0.5, "mode": "b", "k": 2}
    assert _Example.from_params(example.get_params()).get_params() == example.get_params()
