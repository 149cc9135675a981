"""NeurIPS-2023 unlearning challenge: forgetting quality F and the final score.

A numpy re-implementation of ``metric.py`` and ``main.py`` of
``google-deepmind/unlearning_evaluation`` (commit ffae0ff), rule for rule,
without a GPU.  Inputs are populations: ``(n_models, n_examples)`` arrays of
one statistic of each forget example under each unlearned model and each
retrained model.

Differences from the summary in ``metrics.md`` §4 (the official code wins):

* Peaky rule: ``min(range) / max(range)`` is 0/0 = NaN when both populations
  of an example are constant, and ``NaN < 0.01`` is false, so such an example
  goes through the decision rules instead of scoring ε = 50.
* The double-threshold rule predicts the *peakier* set (smaller range; on a
  tie, the set with the smaller median) between the thresholds; FPR/FNR are
  relative to it.  Since the right-threshold interval
  ``[min_peaky + w - 2, max_peaky + 2]`` always has length 4 (w is the
  peaky range), it holds 400 or 401 points depending on rounding.
* Number formats: confidences are float64 (the official pipeline produces
  float64); the single-threshold grid is float32 (``torch.linspace`` uses the
  default dtype), computed as the GPU kernel does with one rounding per
  point; TPR/FPR/FNR are float32 and ε is evaluated in float32, as the
  official numpy code does on the float32 rates.  A GPU reduction may round
  a rate's last bit differently from ``count / N`` used here.
* A rule whose two ε candidates are both NaN (FPR = FNR = 1) is discarded,
  like the one-zero rules.
* If every rule of an example is discarded (e.g. both populations constant
  and equal) the official code fails (``assert`` on the array of survivors,
  then ``nanmax`` of an empty array); here that raises
  :class:`InvalidParameterError` naming the example.
* With N = 2 models ε_max = ceil(ln 1) = 0: there is no bucket and F = 0.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.special import logsumexp

from unlearnkit.errors import InvalidParameterError
from unlearnkit.metrics.functional import ArrayLike, _np

DELTA = 1e-5
EPSILON_CAP = 50.0
THRESHOLDS_PER_UNIT = 100
PEAKY_RATIO = 0.01
DOUBLE_BUFFER = 2.0
LEFT_THRESHOLDS = 400  # ceil(2 * buffer * THRESHOLDS_PER_UNIT)
BUCKET_WIDTH = 0.5
# The official code adds 1e-45 inside both logarithms; the confidence is thus
# bounded by about +-103.6 and finite even when a probability underflows.
LOG_FLOOR = math.log(1e-45)


# --------------------------------------------------------------------------- statistics of logits


def true_class_and_rest(logits: ArrayLike, labels: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """``(z_y, logsumexp_{j != y} z_j)`` in float64 for logits ``(..., n_examples, n_classes)``.

    ``labels`` has shape ``(n_examples,)`` and is shared by any leading
    (model) dimensions.
    """
    z = np.asarray(_np(logits), dtype=np.float64)
    y = np.asarray(_np(labels))
    if z.ndim < 2:
        raise InvalidParameterError(f"logits must have shape (..., n_examples, n_classes); got shape {z.shape}")
    if z.shape[-1] < 2:
        raise InvalidParameterError(f"logits need at least 2 classes; got {z.shape[-1]}")
    if y.shape != (z.shape[-2],):
        raise InvalidParameterError(f"labels must have shape ({z.shape[-2]},) to match the logits; got {y.shape}")
    if not np.issubdtype(y.dtype, np.integer) or (y.size and (y.min() < 0 or y.max() >= z.shape[-1])):
        raise InvalidParameterError(f"labels must be integers in [0, {z.shape[-1]}); got {y.dtype} {y.min(initial=0)}..{y.max(initial=0)}")
    index = np.broadcast_to(y[:, None], (*z.shape[:-1], 1))
    true = np.take_along_axis(z, index, axis=-1)[..., 0]
    rest = z.copy()
    np.put_along_axis(rest, index, -np.inf, axis=-1)
    return true, logsumexp(rest, axis=-1)


def logit_scaled_confidence(logits: ArrayLike, labels: ArrayLike) -> np.ndarray:
    """φ = log(p_y + 1e-45) - log(Σ_{j≠y} p_j + 1e-45), per row (LiRA's statistic).

    Computed in log space, so it is exact where the official code's
    probabilities would underflow; apart from that it equals the official
    ``compute_logit_scaled_confidence`` (which exponentiates float32 logits,
    so agreement is to float32 precision).  Without the 1e-45 terms φ is the
    margin z_y - logsumexp_{j≠y} z_j; with them it saturates near ±103.6.
    Accepts ``(..., n_examples, n_classes)`` logits; returns ``(..., n_examples)``.
    """
    true, rest = true_class_and_rest(logits, labels)
    log_total = np.logaddexp(true, rest)
    phi: np.ndarray = np.logaddexp(true - log_total, LOG_FLOOR) - np.logaddexp(rest - log_total, LOG_FLOOR)
    return phi


# --------------------------------------------------------------------------- decision rules


def single_threshold_grid(low: float, high: float) -> np.ndarray:
    """The official single-threshold grid: ceil(100 (high - low)) float32 points from low to high.

    ``torch.linspace`` in float32: step = (high - low) / (n - 1), point i is
    ``low + i step`` for the first half and ``high - (n - 1 - i) step`` for
    the second, each rounded once (a fused multiply-add).  Returned as
    float64 because the official code compares float64 confidences to it.
    """
    n = int(np.ceil((high - low) * THRESHOLDS_PER_UNIT))
    if n <= 0:
        return np.zeros(0)
    start, end = np.float32(low), np.float32(high)
    if n == 1:
        return np.array([start], dtype=np.float64)
    step = np.float64((end - start) / np.float32(n - 1))
    i = np.arange(n)
    # float32 * int products are exact in float64, so one rounding to float32 remains.
    from_start = (np.float64(start) + step * i).astype(np.float32)
    from_end = (np.float64(end) - step * (n - 1 - i)).astype(np.float32)
    return np.where(i < n // 2, from_start, from_end).astype(np.float64)


def double_threshold_grid(peaky: np.ndarray, width: float) -> tuple[np.ndarray, np.ndarray]:
    """Left thresholds ``(n_right, 400)`` and right thresholds ``(n_right,)`` of the double-threshold family.

    Right thresholds: ceil(100 (hi - lo)) points over [lo, hi] with
    lo = min(peaky) + width - 2 and hi = max(peaky) + 2; for each right
    threshold r, 400 left thresholds over [r - width - 2, r - width + 2].
    Rule (i, j) is the interval [left[i, j], right[i]].
    """
    low = (peaky.min() + width) - DOUBLE_BUFFER
    high = peaky.max() + DOUBLE_BUFFER
    right = np.linspace(low, high, int(np.ceil((high - low) * THRESHOLDS_PER_UNIT)))
    shifted = right - width
    left = np.linspace(shifted - DOUBLE_BUFFER, shifted + DOUBLE_BUFFER, LEFT_THRESHOLDS, axis=1)
    return np.ascontiguousarray(left), right


def rule_epsilons(false_negatives: np.ndarray, false_positives: np.ndarray, n_models: int, delta: float) -> np.ndarray:
    """ε of each decision rule from its error counts; NaN marks a discarded rule.

    FPR = FNR = 0 gives ∞; exactly one zero discards the rule; otherwise
    ε = max(log(1-δ-FPR) - log FNR, log(1-δ-FNR) - log FPR) clipped at 0,
    evaluated in float32 like the official code (NaN if both candidates are).
    """
    n = np.float32(n_models)
    fnr = false_negatives.astype(np.float32) / n
    fpr = false_positives.astype(np.float32) / n
    keep = np.float32(1.0 - delta)
    with np.errstate(divide="ignore", invalid="ignore"):
        eps: np.ndarray = np.clip(np.fmax(np.log(keep - fpr) - np.log(fnr), np.log(keep - fnr) - np.log(fpr)), 0, None)
    fn_zero, fp_zero = false_negatives == 0, false_positives == 0
    eps[fn_zero & fp_zero] = np.inf
    eps[fn_zero ^ fp_zero] = np.nan
    return eps


# Error-count pairs (false negatives, false positives) take at most (N + 1)^2 values, so
# ε is tabulated once per population size when that table is small.
_MAX_TABLE_CELLS = 1 << 22


class _RuleEpsilons:
    """ε of a rule from its error counts, via a lookup table when N is small enough."""

    def __init__(self, n_models: int, delta: float) -> None:
        self.n_models, self.delta = n_models, delta
        self.table: np.ndarray | None = None
        if (n_models + 1) ** 2 <= _MAX_TABLE_CELLS:
            counts = np.arange(n_models + 1)
            self.table = rule_epsilons(counts[:, None], counts[None, :], n_models, delta)

    def __call__(self, false_negatives: np.ndarray, false_positives: np.ndarray) -> np.ndarray:
        if self.table is not None:
            looked_up: np.ndarray = self.table[false_negatives, false_positives]
            return looked_up
        return rule_epsilons(false_negatives, false_positives, self.n_models, self.delta)


def example_epsilon(unlearned: np.ndarray, retrained: np.ndarray, delta: float = DELTA) -> float:
    """ε of one forget example from its two 1-D populations (official ``_get_epsilons`` body).

    Returns a value in [0, 50]; raises when every decision rule is discarded.
    """
    return _example_epsilon(unlearned, retrained, _RuleEpsilons(len(unlearned), delta))


def _example_epsilon(unlearned: np.ndarray, retrained: np.ndarray, epsilons: _RuleEpsilons) -> float:
    n = len(unlearned)
    # Positive = the population with the larger median (ties: unlearned).
    if np.median(retrained) > np.median(unlearned):
        positive, negative = np.sort(retrained), np.sort(unlearned)
    else:
        positive, negative = np.sort(unlearned), np.sort(retrained)
    pos_range, neg_range = positive[-1] - positive[0], negative[-1] - negative[0]
    largest, smallest = max(pos_range, neg_range), min(pos_range, neg_range)
    if largest > 0 and smallest / largest < PEAKY_RATIO:
        return EPSILON_CAP

    # Double thresholds: the peakier population (ties: the negative one) is predicted inside [l, r].
    peaky, other = (negative, positive) if pos_range >= neg_range else (positive, negative)
    left, right = double_threshold_grid(peaky, smallest)

    def count_inside(values: np.ndarray) -> np.ndarray:
        upto_right = np.searchsorted(values, right, side="right")[:, None]
        below_left = np.searchsorted(values, left, side="left")
        inside: np.ndarray = np.maximum(upto_right - below_left, 0)
        return inside

    double = epsilons(n - count_inside(peaky), count_inside(other))

    # Single threshold: predict positive when the statistic is >= t.
    thresholds = single_threshold_grid(min(positive[0], negative[0]), max(positive[-1], negative[-1]))
    single = epsilons(
        np.searchsorted(positive, thresholds, side="left"),
        n - np.searchsorted(negative, thresholds, side="left"),
    )

    candidates = np.concatenate([double.reshape(-1), single])
    candidates = candidates[~np.isnan(candidates)]
    if candidates.size == 0:
        raise InvalidParameterError(
            "every decision rule was discarded (each had exactly one zero error rate); "
            "this happens when both populations are constant and equal, where the official code fails too"
        )
    return float(np.clip(candidates.max(), 0.0, EPSILON_CAP))


# --------------------------------------------------------------------------- scores


def _populations(unlearned: ArrayLike, retrained: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    u = np.asarray(_np(unlearned), dtype=np.float64)
    r = np.asarray(_np(retrained), dtype=np.float64)
    if u.ndim != 2 or u.shape != r.shape:
        raise InvalidParameterError(
            f"unlearned and retrained must both have shape (n_models, n_examples); got {u.shape} and {r.shape}"
        )
    if u.shape[0] < 2 or u.shape[1] < 1:
        raise InvalidParameterError(f"need at least 2 models and 1 example; got shape {u.shape}")
    if not (np.isfinite(u).all() and np.isfinite(r).all()):
        raise InvalidParameterError("unlearned and retrained statistics must be finite")
    return u, r


def _check_delta(delta: float) -> None:
    if not 0.0 <= delta < 1.0:
        raise InvalidParameterError(f"delta must be in [0, 1); got {delta!r}")


def forgetting_epsilons(unlearned: ArrayLike, retrained: ArrayLike, delta: float = DELTA) -> np.ndarray:
    """Per-example ε_s in [0, 50] for ``(n_models, n_examples)`` populations."""
    _check_delta(delta)
    u, r = _populations(unlearned, retrained)
    eps = np.empty(u.shape[1])
    rule_table = _RuleEpsilons(u.shape[0], delta)
    for s in range(u.shape[1]):
        try:
            eps[s] = _example_epsilon(u[:, s], r[:, s], rule_table)
        except InvalidParameterError as error:
            raise InvalidParameterError(f"forget example {s}: {error}") from None
    return eps


def epsilon_points(epsilons: ArrayLike, n_models: int) -> np.ndarray:
    """Points of each ε: bucket k = [k/2, (k+1)/2) scores 2^-k below ε_max = ceil(ln(N - 1)), else 0."""
    eps = np.asarray(_np(epsilons), dtype=np.float64)
    if n_models < 2:
        raise InvalidParameterError(f"n_models must be >= 2; got {n_models}")
    if np.isnan(eps).any() or (eps < 0).any():
        raise InvalidParameterError("epsilons must be non-negative (inf allowed) and not NaN")
    max_epsilon = math.ceil(math.log(n_models - 1))
    # The official while-loop adds a bucket while its end is <= ε_max.
    n_buckets = 0
    while (n_buckets + 1) * BUCKET_WIDTH <= max_epsilon:
        n_buckets += 1
    ends = BUCKET_WIDTH * np.arange(1, n_buckets + 1)
    bucket = np.searchsorted(ends, eps, side="right")  # first bucket with eps < its end
    return np.where(bucket < n_buckets, 0.5 ** bucket.astype(np.float64), 0.0)


def forgetting_quality(unlearned: ArrayLike, retrained: ArrayLike, delta: float = DELTA) -> float:
    """Forgetting quality F of the NeurIPS-2023 unlearning challenge, in [0, 1], higher is better.

    ``unlearned`` and ``retrained``: ``(n_models, n_examples)`` logit-scaled
    confidences (:func:`logit_scaled_confidence`) of the forget examples
    under N unlearned and N retrained models (N = 512 officially).  Per
    example, the strongest of the official threshold attacks gives ε_s (see
    the module docstring for every rule), and F is the mean of
    :func:`epsilon_points`.  Untraining notion; needs N + N models.
    """
    eps = forgetting_epsilons(unlearned, retrained, delta)
    return float(np.mean(epsilon_points(eps, _np(unlearned).shape[0])))


def challenge_score(
    forgetting: float,
    retain_acc_unlearned: ArrayLike | float,
    retain_acc_retrained: ArrayLike | float,
    test_acc_unlearned: ArrayLike | float,
    test_acc_retrained: ArrayLike | float,
) -> float:
    """F · (mean RA_u / mean RA_r) · (mean TA_u / mean TA_r), as in the official ``main.py``.

    Accuracies are per-model arrays or scalars (any common scale: the ratios
    cancel it). Higher is better; it exceeds F when the unlearned models are
    more accurate than the retrained ones.
    """
    if not 0.0 <= forgetting <= 1.0:
        raise InvalidParameterError(f"forgetting quality must be in [0, 1]; got {forgetting!r}")
    means = []
    for name, values in (
        ("retain_acc_unlearned", retain_acc_unlearned),
        ("retain_acc_retrained", retain_acc_retrained),
        ("test_acc_unlearned", test_acc_unlearned),
        ("test_acc_retrained", test_acc_retrained),
    ):
        array = np.asarray(_np(values), dtype=np.float64).reshape(-1)
        if array.size == 0 or not np.isfinite(array).all() or (array < 0).any():
            raise InvalidParameterError(f"{name} must be non-empty, finite and non-negative; got {values!r}")
        means.append(float(array.mean()))
    ra_u, ra_r, ta_u, ta_r = means
    if ra_r == 0 or ta_r == 0:
        raise InvalidParameterError("the retrained models' mean retain and test accuracies must be positive")
    return forgetting * (ra_u / ra_r) * (ta_u / ta_r)
