"""Fisher forgetting: the notebook's variance rules, class removal, the cheap Fisher estimate, the earlier rule kept."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from unlearnkit.data import SELECTORS, SplitSpec
from unlearnkit.methods import METHODS, UnlearnTask
from unlearnkit.methods.fisher import (
    LAYER_FACTOR,
    MAX_INVERSE_FISHER,
    MAX_INVERSE_FISHER_HEAD,
    REMOVED_CLASS_VARIANCE,
    diagonal_fisher,
    notebook_variance,
)
from unlearnkit.methods.flat_loss import FlatLoss, parameter_names
from unlearnkit.models import MODELS
from unlearnkit.training.loop import accuracy, predict_logits


@pytest.fixture(scope="module")
def class_task(tiny_data, tiny_builder, tiny_train_spec) -> UnlearnTask:
    split = SplitSpec(test_per_group=3, validation_fraction=0.1, seed=0).build(tiny_data, SELECTORS["classes"](classes=[2]))
    return UnlearnTask(tiny_data, split, tiny_train_spec, tiny_builder, torch.Generator().manual_seed(0))


def test_notebook_variance_rules(tiny_original) -> None:
    loss = FlatLoss(tiny_original, parameter_names(tiny_original, None))
    fisher = torch.rand(loss.size, generator=torch.Generator().manual_seed(0)) ** 4  # many tiny values hit the clamps
    alpha = 1e-6
    head = {"head.weight", "head.bias"}
    mean, variance = notebook_variance(loss, fisher, alpha, head, torch.tensor([1]), layer_rules=True)
    var, mu, inverse = loss.unflatten(variance), loss.unflatten(mean), loss.unflatten(1.0 / (fisher + 1e-8))
    theta = loss.unflatten(loss.theta0)
    for name in loss.names:
        clamp = MAX_INVERSE_FISHER_HEAD if name in head else MAX_INVERSE_FISHER
        expected = alpha * inverse[name].clamp(max=clamp)
        if expected.ndim > 1:
            expected = expected.mean(dim=1, keepdim=True).expand_as(expected)
        if name in head:
            expected = expected.clone()
            expected[1] = REMOVED_CLASS_VARIANCE
        if name in head or expected.ndim == 1:
            expected = LAYER_FACTOR * expected
        torch.testing.assert_close(var[name], expected)
        if name in head:
            assert torch.equal(mu[name][1], torch.zeros_like(mu[name][1]))
            assert torch.equal(mu[name][0], theta[name][0])
        else:
            assert torch.equal(mu[name], theta[name])
    assert float(variance.max()) <= LAYER_FACTOR * alpha * MAX_INVERSE_FISHER * (1 + 1e-6)  # the noise is bounded by alpha


def test_class_forgetting_removes_the_class_and_keeps_the_rest(tiny_original, class_task) -> None:
    """The zero-mean head row makes the class logit ~0: most forget samples go elsewhere (30 % stay on the tiny task)."""
    removed, kept = [], []
    for seed in range(3):
        task = dataclasses.replace(class_task, generator=torch.Generator().manual_seed(seed))
        result = METHODS["fisher"]().unlearn(tiny_original, task)
        assert result.diagnostics["removed_classes"] == [2]
        removed.append(accuracy(result.model, *task.forget))
        assert accuracy(result.model, *task.retain) >= 0.9 * accuracy(tiny_original, *task.retain)
        task = dataclasses.replace(class_task, generator=torch.Generator().manual_seed(seed))
        kept.append(accuracy(METHODS["fisher"](remove_classes=False).unlearn(tiny_original, task).model, *task.forget))
    assert np.mean(removed) <= 0.5 < np.mean(kept), (removed, kept)


def test_sampled_fisher_is_an_unbiased_estimate_of_the_true_one(tiny_data) -> None:
    model = MODELS["mlp"](hidden=8).build(tiny_data.meta, torch.Generator().manual_seed(0)).eval()
    loss = FlatLoss(model, parameter_names(model, None))
    x, y = tiny_data.x[:6], tiny_data.y[:6]
    true = diagonal_fisher(loss, x, y, "true", 6, torch.Generator())
    generator = torch.Generator().manual_seed(1)
    draws = torch.stack([diagonal_fisher(loss, x, y, "sampled", 6, generator) for _ in range(400)])
    big = true > true.quantile(0.5)
    relative = (draws.mean(0)[big] - true[big]).abs() / true[big]
    assert float(relative.median()) < 0.1
    # a single draw is noisy: the average is what matches
    assert float(((draws[0][big] - true[big]).abs() / true[big]).median()) > float(relative.median())


def test_explicit_max_variance_keeps_the_single_clamp_rule(tiny_original, make_task) -> None:
    params = {"alpha": 1e-6, "max_variance": 0.01, "fisher": "true", "fisher_samples": 10**6, "remove_classes": False}
    task = make_task(seed=4)
    model = METHODS["fisher"](**params).unlearn(tiny_original, task).model
    loss = FlatLoss(tiny_original, parameter_names(tiny_original, None))
    x, y = task.retain
    fisher = diagonal_fisher(loss, x, y, "true", 8, torch.Generator())
    variance = (1e-6 / fisher.clamp_min(1e-8)).clamp(max=0.01)
    expected = loss.theta0 + torch.randn(loss.size, generator=torch.Generator().manual_seed(4)) * variance.sqrt()
    got = torch.cat([p.detach().reshape(-1) for p in model.parameters()])
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-6)


def test_fisher_examples_are_bounded(tiny_original, make_task) -> None:
    task = make_task()
    assert METHODS["fisher"]().unlearn(tiny_original, task).diagnostics["fisher_examples"] == task.split.retain.size
    assert METHODS["fisher"](fisher_samples=20).unlearn(tiny_original, task).diagnostics["fisher_examples"] == 20


def test_fisher_output_depends_on_the_noise_scale(tiny_original, make_task) -> None:
    task = make_task()
    x, _ = task.validation
    small = predict_logits(METHODS["fisher"](alpha=1e-9).unlearn(tiny_original, make_task()).model, x)
    large = predict_logits(METHODS["fisher"](alpha=1e-4).unlearn(tiny_original, make_task()).model, x)
    base = predict_logits(tiny_original, x)
    assert (small - base).abs().mean() < (large - base).abs().mean()
