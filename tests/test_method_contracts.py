"""Contract tests generated over the method registry: every entry is covered automatically."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from conftest import parameter_digest
from unlearnkit.errors import InvalidParameterError
from unlearnkit.methods import METHODS, UnlearningMethod
from unlearnkit.params import constructor_parameters

CLASSIFICATION_METHODS = [name for name in METHODS if "classification" in METHODS[name].task_kinds]


@pytest.mark.parametrize("name", list(METHODS))
def test_constraints_match_constructor(name: str) -> None:
    cls = METHODS[name]
    assert set(cls.parameter_constraints) == set(constructor_parameters(cls)), name
    assert set(cls.search_space) <= set(constructor_parameters(cls)), name
    assert cls.description


@pytest.mark.parametrize("name", list(METHODS))
def test_invalid_hyper_parameter_is_named(name: str) -> None:
    cls = METHODS[name]
    for param, constraint in cls.parameter_constraints.items():
        method = cls(**{param: constraint.invalid_example()})
        with pytest.raises(InvalidParameterError, match=rf"\.{param}: must be"):
            method.validate_params()


@pytest.mark.parametrize("name", CLASSIFICATION_METHODS)
def test_input_model_untouched_and_output_finite(name: str, tiny_original, make_task) -> None:
    before = parameter_digest(tiny_original)
    result = METHODS[name]().unlearn(tiny_original, make_task(seed=3))
    assert parameter_digest(tiny_original) == before
    assert result.model is not tiny_original
    assert all(torch.isfinite(p).all() for p in result.model.parameters())
    assert result.seconds >= 0


@pytest.mark.parametrize("name", CLASSIFICATION_METHODS)
def test_same_seed_same_output(name: str, tiny_original, make_task) -> None:
    first = METHODS[name]().unlearn(tiny_original, make_task(seed=5)).model
    second = METHODS[name]().unlearn(tiny_original, make_task(seed=5)).model
    assert parameter_digest(first) == parameter_digest(second)


@pytest.mark.parametrize("name", CLASSIFICATION_METHODS)
def test_empty_forget_set_handled_as_declared(name: str, tiny_original, make_task, tiny_split) -> None:
    cls: type[UnlearningMethod] = METHODS[name]
    empty = tiny_split.with_forget(np.zeros(0, dtype=np.int64))
    result = cls().unlearn(tiny_original, make_task(seed=1, split=empty))
    if cls.empty_forget == "return_copy":
        assert parameter_digest(result.model) == parameter_digest(tiny_original)
        assert result.diagnostics == {"empty_forget": True}
    else:
        assert cls.empty_forget == "run"
        assert parameter_digest(result.model) != parameter_digest(tiny_original)


def test_roles_mark_the_reference_and_the_baseline() -> None:
    roles = {name: METHODS[name].role for name in METHODS}
    assert set(roles.values()) <= {"retrain", "original", "method"}
    assert {n for n, r in roles.items() if r == "retrain"} == {"retrain", "retrain_rec"}
    assert {n for n, r in roles.items() if r == "original"} == {"original", "original_rec"}
