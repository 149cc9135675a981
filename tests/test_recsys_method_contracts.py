"""Contract tests over every registered recommendation method (the counterpart of test_method_contracts.py)."""

from __future__ import annotations

from functools import cache

import pytest
import torch

from conftest import parameter_digest
from recsys_support import make_rec_task, tiny_original
from unlearnkit.errors import InvalidParameterError
from unlearnkit.methods import METHODS
from unlearnkit.methods.recsys import RecommendationMethod

RECOMMENDATION_METHODS = [name for name in METHODS if "recommendation" in METHODS[name].task_kinds]


def test_every_recommendation_method_is_registered() -> None:
    assert set(RECOMMENDATION_METHODS) == {
        "retrain_rec", "original_rec", "finetune_rec", "neggrad_rec", "influence_rec", "ifru", "sisa", "receraser",
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
def test_every_method_but_the_baseline_changes_the_model_and_scores_stay_finite(name: str) -> None:
    original = original_for(name)
    before = parameter_digest(original)
    result = METHODS[name]().unlearn(original, make_rec_task(seed=3))
    assert (parameter_digest(result.model) == before) == (name == "original_rec")
    scores = result.model.score(torch.tensor([0, 1, 2]), torch.tensor([0, 1, 2]))
    assert torch.isfinite(scores).all()


def test_classification_methods_refuse_a_recommendation_task() -> None:
    with pytest.raises(InvalidParameterError, match="classification"):
        METHODS["finetune"]().unlearn(tiny_original("lightgcn"), make_rec_task(seed=0))


@pytest.mark.parametrize("name", ["ifru", "influence_rec", "finetune_rec", "neggrad_rec", "original_rec"])
def test_shared_original_methods_reject_an_ensemble(name: str) -> None:
    ensemble = original_for("sisa")
    with pytest.raises(InvalidParameterError, match="single MF/LightGCN"):
        METHODS[name]().unlearn(ensemble, make_rec_task(seed=0))
