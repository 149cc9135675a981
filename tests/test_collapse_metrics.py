"""Correlation-collapse diagnostics: known values on constructed features, contexts, and the loss plot."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from unlearnkit.errors import InvalidParameterError, MissingReferenceError
from unlearnkit.metrics import METRICS, EvalContext, ModelOutputs
from unlearnkit.metrics.collapse import class_separability, ks_distance, linear_probe_accuracy
from unlearnkit.report.loss_histograms import plot_loss_histograms


def clustered(n_per_class: int, n_classes: int, spread: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Features = far-apart class centres + isotropic noise of std ``spread``."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(n_classes), n_per_class)
    centres = 10.0 * np.eye(n_classes, 8)
    return centres[labels] + spread * rng.normal(size=(len(labels), 8)), labels


def random_features(n: int, n_classes: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, 8)), rng.integers(0, n_classes, n)


def test_linear_probe_known_values() -> None:
    train, test = clustered(30, 4, 0.5, 0), clustered(20, 4, 0.5, 1)
    assert linear_probe_accuracy(*train, *test) == 1.0
    rand_train, rand_test = random_features(200, 4, 2), random_features(400, 4, 3)
    assert 0.15 <= linear_probe_accuracy(*rand_train, *rand_test) <= 0.35  # chance is 0.25


def test_class_separability_known_values() -> None:
    assert class_separability(*clustered(30, 4, 0.1, 0)) > 0.9
    assert abs(class_separability(*random_features(400, 4, 1))) < 0.05
    with pytest.raises(InvalidParameterError, match="number of classes"):
        class_separability(np.zeros((5, 2)), np.zeros(5, dtype=int))


def test_ks_distance_known_values() -> None:
    a = np.array([0.0, 1.0, 2.0, 3.0])
    assert ks_distance(a, a) == 0.0
    assert ks_distance(a, a + 10.0) == 1.0
    assert ks_distance(a, a + 2.0) == pytest.approx(0.5)


def context(model, tiny_data, tiny_split, reference: ModelOutputs | None = None) -> EvalContext:
    outputs = ModelOutputs.compute(model, tiny_data, tiny_split)
    return EvalContext(outputs, 1.0, reference=reference, reference_seconds=None if reference is None else 2.0,
                       model=model, data=tiny_data, split=tiny_split)  # fmt: skip


def collapsed_copy(model):
    """The same network with the penultimate layer zeroed: every input maps to one feature vector."""
    collapsed = copy.deepcopy(model)
    last = collapsed.body[-1][1]
    with torch.no_grad():
        last.weight.zero_()
        last.bias.zero_()
    return collapsed


def test_feature_metrics_detect_collapse(tiny_original, tiny_data, tiny_split) -> None:
    probe, separability = METRICS["linear_probe_acc"](), METRICS["feature_separability"]()
    healthy = context(tiny_original, tiny_data, tiny_split)
    collapsed = context(collapsed_copy(tiny_original), tiny_data, tiny_split)
    assert 0.85 <= probe.compute(healthy) <= 1.0
    assert 0.1 <= separability.compute(healthy) <= 1.0
    test_labels = tiny_data.y[torch.as_tensor(tiny_split.test)].numpy()
    majority = np.bincount(test_labels).max() / len(test_labels)
    assert probe.compute(collapsed) <= majority + 1e-9
    assert separability.compute(collapsed) == 0.0


def test_feature_metrics_need_the_model(tiny_original, tiny_data, tiny_split) -> None:
    ctx = EvalContext(ModelOutputs.compute(tiny_original, tiny_data, tiny_split), 1.0)
    for name in ("linear_probe_acc", "feature_separability"):
        metric = METRICS[name]()
        assert any("model" in m for m in metric.missing_inputs(ctx))
        with pytest.raises(MissingReferenceError):
            metric.compute(ctx)


def test_forget_loss_ks_against_reference(tiny_original, tiny_data, tiny_split) -> None:
    metric = METRICS["forget_loss_ks"]()
    assert metric.needs_reference and metric.direction == "lower"
    own = ModelOutputs.compute(tiny_original, tiny_data, tiny_split)
    assert metric.compute(context(tiny_original, tiny_data, tiny_split, reference=own)) == 0.0
    shifted = ModelOutputs({"forget": own.logits["forget"] * 0.0}, {"forget": own.labels["forget"]})
    # Zero logits give loss log(n_classes) everywhere, far above the memorised forget losses.
    assert metric.compute(context(tiny_original, tiny_data, tiny_split, reference=shifted)) == 1.0
    with pytest.raises(MissingReferenceError):
        metric.compute(context(tiny_original, tiny_data, tiny_split))


def test_metric_declarations() -> None:
    for name in ("linear_probe_acc", "feature_separability", "forget_loss_ks"):
        cls = METRICS[name]
        assert cls.description and cls.direction in ("higher", "lower", "reference")
        assert cls.goals and cls.notion and cls.requires_splits


def test_loss_histogram_png(tiny_original, tiny_data, tiny_split, tmp_path) -> None:
    own = ModelOutputs.compute(tiny_original, tiny_data, tiny_split)
    path = plot_loss_histograms(own, tmp_path / "sub" / "losses.png", reference=own, title="original")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    plain = plot_loss_histograms(own, tmp_path / "plain.png", log_loss=False)
    assert plain.stat().st_size > 1000
    without_forget = ModelOutputs({"test": own.logits["test"]}, {"test": own.labels["test"]})
    with pytest.raises(InvalidParameterError, match="forget"):
        plot_loss_histograms(without_forget, tmp_path / "x.png")
