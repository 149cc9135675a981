"""Contract tests over every registered recommendation method (the counterpart of test_method_contracts.py)."""

from __future__ import annotations

from functools import cache

import pytest
import torch
from conftest import parameter_digest
from recsys_support import empty_forget, make_rec_task, tiny_original

from unlearnkit.errors import InvalidParameterError
from unlearnkit.methods import METHODS
from unlearnkit.methods.recsys import RecommendationMethod

RECOMMENDATION_METHODS = [name for name in METHODS if "recommendation" in METHODS[name].task_kinds]


def test_every_recommendation_method_is_registered() -> None:
    assert set(RECOMMENDATION_METHODS) == {
        "retrain_rec", "original_rec", "finetune_rec", "neggrad_rec", "influence_rec", "ifru", "scif", "sisa", "receraser",
    }
    for name in RECOMMENDATION_METHODS:
        cls = METHODS[name]
        assert issubclass(cls, RecommendationMethod)
        assert cls.task_kinds == frozenset({"recommendation"})
        assert cls.original in ("shared", "own")


@cache
def original_for(name: str) -> torch.nn.Module:
    method = METHODS[name]()
    if method.original == "own":
        return method.train_original(make_rec_task(seed=0))
    return tiny_original("lightgcn")


@pytest.mark.parametrize("name", RECOMMENDATION_METHODS)
def test_input_model_untouched_and_output_finite(name: str) -> None:
    original = original_for(name)
    before = parameter_digest(original)
    result = METHODS[name]().unlearn(original, make_rec_task(seed=3))
    assert parameter_digest(original) == before
    assert result.model is not original
    if name != "original_rec":  # the do-nothing baseline
        assert parameter_digest(result.model) != before
    else:
        assert parameter_digest(result.model) == before
    assert all(torch.isfinite(p).all() for p in result.model.parameters())
    scores = result.model.score(torch.tensor([0, 1, 2]), torch.tensor([0, 1, 2]))
    assert torch.isfinite(scores).all()
    assert result.seconds >= 0


@pytest.mark.parametrize("name", RECOMMENDATION_METHODS)
def test_same_seed_same_output(name: str) -> None:
    original = original_for(name)
    first = METHODS[name]().unlearn(original, make_rec_task(seed=5)).model
    second = METHODS[name]().unlearn(original, make_rec_task(seed=5)).model
    assert parameter_digest(first) == parameter_digest(second)


@pytest.mark.parametrize("name", RECOMMENDATION_METHODS)
def test_empty_forget_set_handled_as_declared(name: str) -> None:
    cls = METHODS[name]
    original = original_for(name)
    task = make_rec_task(seed=1)
    result = cls().unlearn(original, make_rec_task(seed=1, split=empty_forget(task.split)))
    if cls.empty_forget == "return_copy":
        assert parameter_digest(result.model) == parameter_digest(original)
        assert result.diagnostics == {"empty_forget": True}
    else:
        assert cls.empty_forget == "run"
        assert parameter_digest(result.model) != parameter_digest(original)


@pytest.mark.parametrize("name", RECOMMENDATION_METHODS)
def test_classification_task_is_refused(name: str, make_task) -> None:
    with pytest.raises(InvalidParameterError, match="recommendation"):
        METHODS[name]().unlearn(torch.nn.Linear(2, 2), make_task(seed=0))


def test_classification_methods_refuse_a_recommendation_task() -> None:
    with pytest.raises(InvalidParameterError, match="classification"):
        METHODS["finetune"]().unlearn(tiny_original("lightgcn"), make_rec_task(seed=0))


@pytest.mark.parametrize("name", ["ifru", "influence_rec", "finetune_rec", "neggrad_rec", "original_rec"])
def test_shared_original_methods_reject_an_ensemble(name: str) -> None:
    ensemble = original_for("sisa")
    with pytest.raises(InvalidParameterError, match="single MF/LightGCN"):
        METHODS[name]().unlearn(ensemble, make_rec_task(seed=0))
