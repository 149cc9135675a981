"""Correlation-collapse diagnostics (DLFD, arXiv 2409.14747).

Error-maximising unlearners can destroy the relation between features and
labels ("correlation collapse") and push forget losses far beyond the
retrained model's, which itself leaks membership. Three diagnostics:

* ``linear_probe_acc``: a logistic-regression probe fitted on the model's
  penultimate features of the retain set, scored on the test set. Higher =
  the features still carry the label linearly.
* ``feature_separability``: mean silhouette coefficient of the test set's
  penultimate features grouped by true label (euclidean, raw features: the
  score is invariant to a global scale, and per-dimension standardisation
  would inflate near-dead dimensions to the weight of informative ones). In [-1, 1]; 1 = tight, well-separated
  class clusters, about 0 = classes overlap, negative = samples lie closer
  to another class. Higher is better; a drop against the original or the
  retrained model signals collapse.
* ``forget_loss_ks``: two-sample Kolmogorov-Smirnov statistic between the
  model's per-example forget losses and the retrained reference's. In [0, 1];
  0 = same distribution. Lower is better (the untraining target is the
  reference's distribution, not the largest loss).

The pure formulas take arrays; the metric classes read an
:class:`EvalContext` (the first two need the model itself, for features).
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.stats import ks_2samp
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import silhouette_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from unlearnkit.errors import InvalidParameterError, MissingReferenceError
from unlearnkit.metrics import functional as fn
from unlearnkit.metrics.base import EvalContext, Metric, split_indices
from unlearnkit.models.base import Classifier
from unlearnkit.training.loop import predict_features

# Silhouette is O(n^2) in memory and time; larger test sets are subsampled (seeded).
SILHOUETTE_MAX_SAMPLES = 2000


def linear_probe_accuracy(
    train_features: np.ndarray, train_labels: np.ndarray, test_features: np.ndarray, test_labels: np.ndarray
) -> float:
    """Test accuracy of a logistic regression fitted on standardised training features."""
    if len(np.unique(train_labels)) < 2:
        raise InvalidParameterError("a linear probe needs at least two classes among the training features")
    probe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    probe.fit(train_features, train_labels)
    return float(probe.score(test_features, test_labels))


def class_separability(features: np.ndarray, labels: np.ndarray, *, seed: int = 0) -> float:
    """Mean euclidean silhouette coefficient of ``features`` grouped by ``labels`` (higher = more separable)."""
    n_labels = len(np.unique(labels))
    if n_labels < 2 or n_labels >= len(labels):
        raise InvalidParameterError(
            f"class separability needs 2 <= number of classes < number of samples; got {n_labels} classes, {len(labels)} samples"
        )
    sample_size = SILHOUETTE_MAX_SAMPLES if len(labels) > SILHOUETTE_MAX_SAMPLES else None
    return float(silhouette_score(features, labels, sample_size=sample_size, random_state=seed))


def ks_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Two-sample Kolmogorov-Smirnov statistic (sup |F_a - F_b|) between two samples."""
    if len(a) == 0 or len(b) == 0:
        raise InvalidParameterError("the KS distance needs two non-empty samples")
    return float(ks_2samp(a, b).statistic)


def _split_features(ctx: EvalContext, name: str, metric: str) -> tuple[np.ndarray, np.ndarray]:
    if ctx.model is None or ctx.data is None or ctx.split is None:
        raise MissingReferenceError(f"metric {metric!r} needs the model, data and split in the evaluation context")
    if not isinstance(ctx.model, Classifier):
        raise InvalidParameterError(
            f"metric {metric!r} reads penultimate features: the model must be an unlearnkit.models.Classifier;"
            f" got {type(ctx.model).__name__}"
        )
    key = f"features:{name}"
    if key not in ctx.memo:  # the probe and separability share the test features
        index = torch.as_tensor(split_indices(ctx.split, name))
        ctx.memo[key] = (predict_features(ctx.model, ctx.data.x[index]).numpy(), ctx.data.y[index].numpy())
    features_and_labels: tuple[np.ndarray, np.ndarray] = ctx.memo[key]
    return features_and_labels


class _FeatureMetric(Metric):
    """A metric of the model's penultimate features: needs the model, data and split."""

    needs_model = True

    def missing_inputs(self, ctx: EvalContext) -> list[str]:
        missing = super().missing_inputs(ctx)
        if ctx.model is None or ctx.data is None or ctx.split is None:
            missing.append("the model, data and split (for penultimate features)")
        return missing


class LinearProbeAccuracy(_FeatureMetric):
    description = "test accuracy of a logistic-regression probe on penultimate features fitted on the retain set"
    direction = "higher"
    notion = "diagnostic"
    requires_splits = ("retain", "test")

    def compute(self, ctx: EvalContext) -> float:
        train_x, train_y = _split_features(ctx, "retain", "linear_probe_acc")
        test_x, test_y = _split_features(ctx, "test", "linear_probe_acc")
        return linear_probe_accuracy(train_x, train_y, test_x, test_y)


class FeatureSeparability(_FeatureMetric):
    description = "mean silhouette of test penultimate features by true label, in [-1, 1] (collapse lowers it)"
    direction = "higher"
    notion = "diagnostic"
    requires_splits = ("test",)

    def compute(self, ctx: EvalContext) -> float:
        features, labels = _split_features(ctx, "test", "feature_separability")
        return class_separability(features, labels, seed=ctx.seed)


class ForgetLossKS(Metric):
    description = "KS statistic between the forget-loss distributions of the model and the retrained reference (0 = same)"
    direction = "lower"
    needs_reference = True
    goals = frozenset({"untraining"})
    notion = "untraining"
    requires_splits = ("forget",)

    def compute(self, ctx: EvalContext) -> float:
        reference, _ = ctx.require_reference("forget_loss_ks")
        if not reference.has("forget"):
            raise MissingReferenceError("metric 'forget_loss_ks' needs the reference's outputs on the forget split")
        out = ctx.outputs
        return ks_distance(
            fn.per_example_loss(out.logits["forget"], out.labels["forget"]),
            fn.per_example_loss(reference.logits["forget"], reference.labels["forget"]),
        )
