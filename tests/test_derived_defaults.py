"""Default hyper-parameters derived from the task: they follow the recipe as documented, explicit values win."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np
import pytest
import torch

from unlearnkit.data import SELECTORS, SplitSpec
from unlearnkit.methods import METHODS, UnlearnTask
from unlearnkit.methods.defaults import ADAM_REFERENCE_RATE, TaskFacts, removed_classes, unseen_forget_accuracy
from unlearnkit.methods.l1_sparse import L1_PULL
from unlearnkit.methods.optim import GradientMethod, OptimizerChoiceMethod
from unlearnkit.methods.scrub import MAX_STEPS_PER_PASS
from unlearnkit.training import TrainSpec
from unlearnkit.training.loop import predict_logits

GRADIENT_METHODS = sorted(n for n in METHODS if issubclass(METHODS[n], GradientMethod))
SGD_METHODS = [n for n in GRADIENT_METHODS if getattr(METHODS[n](), "optimizer", "sgd") == "sgd"]
ADAM_METHODS = [n for n in GRADIENT_METHODS if getattr(METHODS[n](), "optimizer", "sgd") == "adam"]


def with_recipe(task: UnlearnTask, **changes: Any) -> UnlearnTask:
    spec = TrainSpec.from_params({**task.train_spec.get_params(), **changes})
    return dataclasses.replace(task, train_spec=spec)


def resolved(name: str, task: UnlearnTask, **explicit: Any) -> dict[str, Any]:
    return METHODS[name](**explicit).resolve(task).get_params()


def test_the_method_lists_are_not_empty() -> None:
    assert len(SGD_METHODS) >= 8 and len(ADAM_METHODS) >= 5, (SGD_METHODS, ADAM_METHODS)


@pytest.mark.parametrize("name", SGD_METHODS)
def test_sgd_rate_is_proportional_to_the_recipe_rate(name: str, make_task) -> None:
    task = make_task()
    full = resolved(name, task)["lr"]
    half = resolved(name, with_recipe(task, lr=task.train_spec.lr / 2))["lr"]
    assert half == pytest.approx(full / 2)
    assert 0 < full <= task.train_spec.lr  # a fraction of the recipe's peak rate


@pytest.mark.parametrize("name", ADAM_METHODS)
def test_adam_rate_is_constant_on_sgd_recipes_and_scales_with_an_adam_recipe(name: str, make_task) -> None:
    task = make_task()
    base = resolved(name, task)
    assert resolved(name, with_recipe(task, lr=task.train_spec.lr / 2))["lr"] == base["lr"]
    assert base["weight_decay"] == 0.0  # Adam on an SGD recipe: no coupled L2
    adam = with_recipe(task, optimizer="adam", lr=2 * ADAM_REFERENCE_RATE)
    assert resolved(name, adam)["lr"] == pytest.approx(2 * base["lr"])
    assert resolved(name, adam)["weight_decay"] == adam.train_spec.weight_decay


@pytest.mark.parametrize("name", GRADIENT_METHODS)
def test_batch_size_and_momentum_follow_the_recipe(name: str, make_task) -> None:
    task = with_recipe(make_task(), batch_size=24, momentum=0.8, weight_decay=1e-3)
    params = resolved(name, task)
    assert params["batch_size"] == 24
    assert params["momentum"] == 0.8
    if METHODS[name]().get_params().get("optimizer", "sgd") == "sgd":
        assert params["weight_decay"] == 1e-3


@pytest.mark.parametrize("name", [n for n in GRADIENT_METHODS if "epochs" in METHODS[n]().get_params()])
def test_epoch_budget_grows_with_the_recipe(name: str, make_task) -> None:
    task = make_task()
    short = resolved(name, with_recipe(task, epochs=10))["epochs"]
    long = resolved(name, with_recipe(task, epochs=100))["epochs"]
    assert 1 <= short < long <= 100


def test_finetune_rule_as_documented(make_task) -> None:
    task = with_recipe(make_task(), lr=0.08, epochs=40)
    assert resolved("finetune", task) == {"lr": pytest.approx(0.016), "epochs": 4, "batch_size": 16, "momentum": 0.9, "weight_decay": 5e-4}


@pytest.mark.parametrize("name", [*GRADIENT_METHODS, "ssd"])
def test_explicit_values_override_and_are_kept(name: str, make_task) -> None:
    cls = METHODS[name]
    derived = cls().derived_params(make_task())
    explicit = {key: (value * 3 if isinstance(value, float) else value + 1) for key, value in derived.items()}
    explicit = {k: v for k, v in explicit.items() if cls.parameter_constraints[k].accepts(v)}
    assert explicit, name
    params = resolved(name, make_task(), **explicit)
    assert all(params[k] == v for k, v in explicit.items()), (explicit, params)
    assert all(v is not None for k, v in params.items() if k in derived)


def test_resolved_parameters_are_recorded_and_none_meaning_none_is_kept(tiny_original, make_task) -> None:
    result = METHODS["finetune"](epochs=1).unlearn(tiny_original, make_task())
    assert result.diagnostics["resolved_params"]["epochs"] == 1
    assert result.diagnostics["resolved_params"]["lr"] == pytest.approx(0.2 * make_task().train_spec.lr)
    assert METHODS["dlfd"]().resolve(make_task()).epsilon is None  # None means "no ball", not "derive"


def test_explicit_value_gives_the_same_model_as_the_derived_one(tiny_original, make_task) -> None:
    derived = METHODS["random_label"]().unlearn(tiny_original, make_task(seed=2))
    explicit = METHODS["random_label"](**derived.diagnostics["resolved_params"]).unlearn(tiny_original, make_task(seed=2))
    for a, b in zip(derived.model.parameters(), explicit.model.parameters(), strict=False):
        assert torch.equal(a, b)


def test_l1_alpha_sets_the_documented_total_pull(make_task) -> None:
    task = make_task()
    facts = TaskFacts.of(task)
    for recipe in ({}, {"lr": 0.02, "epochs": 60}):
        p = resolved("l1_sparse", with_recipe(task, **recipe))
        l1_steps = (p["epochs"] - p["no_l1_epochs"]) * math.ceil(facts.n_retain / p["batch_size"])
        assert p["lr"] * p["alpha"] * l1_steps / 2 == pytest.approx(L1_PULL)


def test_scrub_ascent_pass_has_a_fixed_number_of_steps(make_task, tiny_random_split) -> None:
    for task in (make_task(), make_task(split=tiny_random_split)):
        n_forget = task.split.forget.size
        batch = resolved("scrub", task)["forget_batch_size"]
        assert math.ceil(n_forget / batch) <= MAX_STEPS_PER_PASS
        assert batch == math.ceil(n_forget / MAX_STEPS_PER_PASS)


def test_ssd_selection_threshold_is_a_fraction_of_its_bound(make_task) -> None:
    facts = TaskFacts.of(make_task())
    assert resolved("ssd", make_task())["selection_weighting"] == pytest.approx(0.9 * facts.n_train / facts.n_forget)


@pytest.fixture(scope="module")
def class_task(tiny_data, tiny_builder, tiny_train_spec) -> UnlearnTask:
    split = SplitSpec(test_per_group=3, validation_fraction=0.1, seed=0).build(tiny_data, SELECTORS["classes"](classes=[2]))
    return UnlearnTask(tiny_data, split, tiny_train_spec, tiny_builder, torch.Generator().manual_seed(0))


def test_unseen_accuracy_is_zero_for_a_removed_class(tiny_original, class_task) -> None:
    assert removed_classes(class_task).tolist() == [2]
    assert unseen_forget_accuracy(tiny_original, class_task) == 0.0


def test_unseen_accuracy_is_the_validation_accuracy_of_the_forget_labels(tiny_original, make_task) -> None:
    task = make_task()  # one identity of class 1: the class stays in the retain set
    assert removed_classes(task).numel() == 0
    xv, yv = task.validation
    label = int(task.forget[1][0])
    correct = predict_logits(tiny_original, xv).argmax(1) == yv
    assert unseen_forget_accuracy(tiny_original, task) == pytest.approx(float(correct[yv == label].float().mean()))


def test_neggrad_stops_at_the_unseen_accuracy(tiny_original, class_task) -> None:
    stopped = METHODS["neggrad"](lr=1e-2, epochs=50).unlearn(tiny_original, class_task).diagnostics
    assert stopped["stop_target_forget_acc"] == 0.0
    assert stopped["stop_reached"] and stopped["last_checked_forget_acc"] <= 0.0
    assert 0 < stopped["steps"] == stopped["steps_before_stop"] < 50  # stopped before the cap
    free = METHODS["neggrad"](lr=1e-2, epochs=50, early_stop=False).unlearn(tiny_original, class_task).diagnostics
    assert free["steps"] == 50 * math.ceil(class_task.split.forget.size / 16)


def test_derived_defaults_differ_between_two_recipes_only_where_documented(make_task) -> None:
    task = make_task()
    other = with_recipe(task, lr=task.train_spec.lr * 2)
    changed = {name: sorted(k for k, v in resolved(name, task).items() if resolved(name, other)[k] != v) for name in GRADIENT_METHODS}
    for name, keys in changed.items():
        cls = METHODS[name]
        uses_sgd = cls().get_params().get("optimizer", "sgd") == "sgd"
        expected = {"lr", "alpha"} if name == "l1_sparse" else ({"lr"} if uses_sgd else set())
        assert set(keys) == expected, (name, keys)
    assert np.isfinite(TaskFacts.of(task).forget_fraction)
    assert issubclass(METHODS["neggrad"], OptimizerChoiceMethod)


def test_bad_teacher_retain_share_balances_the_teachers_per_label(make_task, class_task, tiny_random_split) -> None:
    for task in (make_task(), class_task, make_task(split=tiny_random_split)):
        _, y_forget = task.forget
        _, y_retain = task.retain
        per_forget_label = len(y_forget) / len(torch.unique(y_forget))
        balanced = per_forget_label * len(torch.unique(y_retain)) / len(y_retain)
        share = resolved("bad_teacher", task)["retain_fraction"]
        assert share == pytest.approx(min(1.0, max(0.3, balanced)), rel=1e-5)
    # a whole class leaves: each kept class needs as many samples as the forgotten one had, here all of them
    assert resolved("bad_teacher", class_task)["retain_fraction"] == 1.0
    # ten random samples spread over the classes: the reference implementation's 30 % already balances them
    assert resolved("bad_teacher", make_task(split=tiny_random_split))["retain_fraction"] == 0.3


def test_boundary_shrink_takes_smaller_steps_when_no_class_leaves(make_task, class_task) -> None:
    recipe_lr = class_task.train_spec.lr
    assert resolved("boundary_shrink", class_task)["lr"] == pytest.approx(0.06 * recipe_lr)
    assert removed_classes(make_task()).numel() == 0
    assert resolved("boundary_shrink", make_task())["lr"] == pytest.approx(0.02 * recipe_lr)
