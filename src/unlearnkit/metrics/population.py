"""Metrics over populations of models, as pure functions on numpy arrays.

Population inputs are ``(n_models, n_examples)`` arrays: one statistic of
each evaluation example under each of N unlearned models, and the same under
N retrained (oracle) models.  Every per-example metric returns the
per-example values; aggregates are explicit.

* NeurIPS-2023 forgetting quality F and final score (:mod:`.challenge`).
* KLoM, KL divergence of margin histograms (Attribute-to-Delete).
* Per-example U-MIA: best-threshold advantage between the two populations.
* ToW / ToW-MIA (RUM) on accuracies of one model and its reference.
* A percentile bootstrap for confidence intervals in reports.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple, overload

import numpy as np
from scipy.stats import entropy

from unlearnkit.errors import InvalidParameterError
from unlearnkit.metrics.challenge import (
    challenge_score,
    epsilon_points,
    forgetting_epsilons,
    forgetting_quality,
    logit_scaled_confidence,
    true_class_and_rest,
)
from unlearnkit.metrics.functional import ArrayLike, _np

__all__ = [
    "UMIAResult",
    "bootstrap_ci",
    "challenge_score",
    "epsilon_points",
    "forgetting_epsilons",
    "forgetting_quality",
    "klom",
    "logit_scaled_confidence",
    "margins",
    "tow",
    "tow_mia",
    "u_mia",
]

KLOM_CLIP = 100.0
KLOM_Q_FLOOR = 1e-5
# Examples per vectorised KLoM chunk: bounds the (models x examples x edges) comparison array.
_KLOM_CHUNK_CELLS = 4_000_000


def margins(logits: ArrayLike, labels: ArrayLike) -> np.ndarray:
    """Margin μ = z_y - logsumexp_{j≠y} z_j per row, in float64 (KLoM's statistic).

    Accepts ``(..., n_examples, n_classes)`` logits and ``(n_examples,)`` labels.
    """
    true, rest = true_class_and_rest(logits, labels)
    margin: np.ndarray = true - rest
    return margin


def _two_populations(unlearned: ArrayLike, retrained: ArrayLike, what: str) -> tuple[np.ndarray, np.ndarray]:
    u = np.asarray(_np(unlearned), dtype=np.float64)
    r = np.asarray(_np(retrained), dtype=np.float64)
    if u.ndim != 2 or r.ndim != 2 or u.shape[1] != r.shape[1]:
        raise InvalidParameterError(
            f"{what} must be (n_models, n_examples) arrays with the same number of examples; got {u.shape} and {r.shape}"
        )
    if min(u.shape[0], r.shape[0]) < 1 or u.shape[1] < 1:
        raise InvalidParameterError(f"{what} need at least one model and one example; got {u.shape} and {r.shape}")
    if np.isnan(u).any() or np.isnan(r).any():
        raise InvalidParameterError(f"{what} contain NaN")
    return u, r


# --------------------------------------------------------------------------- KLoM


@overload
def klom(
    unlearned_margins: ArrayLike, retrained_margins: ArrayLike, bins: int = 20, percentile: None = None, *, include_max: bool = False
) -> np.ndarray: ...
@overload
def klom(
    unlearned_margins: ArrayLike, retrained_margins: ArrayLike, bins: int = 20, percentile: float = ..., *, include_max: bool = False
) -> float: ...


def klom(
    unlearned_margins: ArrayLike,
    retrained_margins: ArrayLike,
    bins: int = 20,
    percentile: float | None = None,
    *,
    include_max: bool = False,
) -> np.ndarray | float:
    """KLoM: KL(p ‖ q) of margin histograms per example; lower is better, 0 = indistinguishable.

    As ``compute_binned_KL_div`` in ``RoyRin/data-unlearning-bench``
    ``unlearning_bench/eval.py``: per example, clip both populations' margins
    to [-100, 100]; ``bins`` equal-width bins from the joint min to the joint
    max (max = min + 1 if they coincide); p = unlearned histogram, q = oracle
    histogram, each normalised by its counted samples; q_b ← max(q_b, 1e-5)
    where p_b > 0; KL via ``scipy.stats.entropy`` (which renormalises q).

    The reference code bins with ``np.digitize``, whose last bin is open on
    the right, so samples equal to the joint maximum are *not counted*
    (``include_max=False`` reproduces this).  If every unlearned margin sits
    at the joint maximum (e.g. all clipped at 100) nothing is counted and the
    reference yields NaN; so does this function.  ``include_max=True``
    closes the last bin instead (``np.histogram`` semantics).

    Shapes ``(n_unlearned_models, n_examples)`` and ``(n_retrained_models,
    n_examples)``.  Returns the per-example array when ``percentile`` is None,
    else that percentile of it (NaN propagates).  Untraining notion.
    """
    if not isinstance(bins, int) or isinstance(bins, bool) or bins < 1:
        raise InvalidParameterError(f"bins must be an int >= 1; got {bins!r}")
    if percentile is not None and not 0.0 <= percentile <= 100.0:
        raise InvalidParameterError(f"percentile must be None or in [0, 100]; got {percentile!r}")
    u, r = _two_populations(unlearned_margins, retrained_margins, "margins")
    u, r = np.clip(u, -KLOM_CLIP, KLOM_CLIP), np.clip(r, -KLOM_CLIP, KLOM_CLIP)
    start = np.minimum(u.min(0), r.min(0))
    end = np.maximum(u.max(0), r.max(0))
    end = np.where(start >= end, start + 1, end)
    edges = np.linspace(start, end, bins + 1, axis=1)  # (n_examples, bins + 1)

    p = _bin_fractions(u, edges, include_max)
    q = _bin_fractions(r, edges, include_max)
    q_safe = np.where(p > 0, np.maximum(q, KLOM_Q_FLOOR), q)
    counted = p.sum(1) > 0
    values = np.full(u.shape[1], np.nan)
    values[counted] = entropy(p[counted], q_safe[counted], axis=1)
    if percentile is None:
        return values
    return float(np.percentile(values, percentile))


def _bin_fractions(values: np.ndarray, edges: np.ndarray, include_max: bool) -> np.ndarray:
    """Per-example fraction of ``values`` (models x examples) in each bin, as np.digitize counts them."""
    n_models, n_examples = values.shape
    n_bins = edges.shape[1] - 1
    counts = np.zeros((n_examples, n_bins + 2), dtype=np.int64)
    chunk = max(1, _KLOM_CHUNK_CELLS // (n_models * (n_bins + 1)))
    for lo in range(0, n_examples, chunk):
        block = values[:, lo : lo + chunk]
        # digitize index of an increasing edge array = number of edges <= value.
        index = (block[:, :, None] >= edges[None, lo : lo + chunk, :]).sum(-1)
        if include_max:
            index = np.minimum(index, n_bins)
        rows = np.broadcast_to(np.arange(block.shape[1]), index.shape)
        np.add.at(counts[lo : lo + chunk], (rows, index), 1)
    inside = counts[:, 1 : n_bins + 1].astype(np.float64)
    totals = inside.sum(1, keepdims=True)
    shares: np.ndarray = np.divide(inside, totals, out=np.zeros_like(inside), where=totals > 0)
    return shares


# --------------------------------------------------------------------------- per-example U-MIA


class UMIAResult(NamedTuple):
    per_example: np.ndarray
    mean: float


def u_mia(unlearned_scores: ArrayLike, retrained_scores: ArrayLike) -> UMIAResult:
    """Per-example U-MIA: advantage of the best threshold attacker, unlearned vs retrained.

    For example s with scores U_s (one per unlearned model) and R_s (one per
    retrained model), an attacker sees one score and says "unlearned" when it
    is above (or, the other direction, below) a threshold t.  Its advantage
    TPR - FPR, maximised over t and both directions, is

        adv_s = max_t |F_U(t) - F_R(t)|,

    the two-sample Kolmogorov-Smirnov statistic of the empirical CDFs.
    adv_s ∈ [0, 1]; 0 = no threshold separates them; the attacker's balanced
    accuracy is (1 + adv_s) / 2.  The threshold is chosen on the same scores
    it is scored on, so adv_s is optimistic: it is above 0 even for two
    samples of one distribution (about 1/sqrt(N) for N + N models).  Lower is
    better; untraining notion.  Any statistic works (logit-scaled
    confidence, margin, loss); populations may hold different model counts.
    Returns the per-example advantages and their mean.
    """
    u, r = _two_populations(unlearned_scores, retrained_scores, "scores")
    n_u, n_r = u.shape[0], r.shape[0]
    values = np.concatenate([u, r], axis=0)
    order = np.argsort(values, axis=0, kind="stable")
    ordered = np.take_along_axis(values, order, axis=0)
    from_unlearned = order < n_u
    # Integer ECDF difference scaled by n_u * n_r, exact: n_r * #U<=t - n_u * #R<=t.
    scaled = np.cumsum(np.where(from_unlearned, n_r, -n_u), axis=0)
    # Only the last position of a run of equal values is a valid threshold.
    last_of_run = np.ones_like(from_unlearned)
    last_of_run[:-1] = ordered[1:] != ordered[:-1]
    advantage = np.where(last_of_run, np.abs(scaled), 0).max(0) / (n_u * n_r)
    return UMIAResult(advantage, float(advantage.mean()))


# --------------------------------------------------------------------------- ToW


def _unit_interval(**values: float) -> None:
    for name, value in values.items():
        if not 0.0 <= value <= 1.0:
            raise InvalidParameterError(f"{name} must be in [0, 1]; got {value!r}")


def tow(fa_u: float, fa_r: float, ra_u: float, ra_r: float, ta_u: float, ta_r: float) -> float:
    """Tug-of-War (RUM): (1 - |FA_u - FA_r|)(1 - |RA_u - RA_r|)(1 - |TA_u - TA_r|).

    Accuracies in [0, 1] of the unlearned model (u) and the retrained one
    (r) on forget, retain and test data.  In [0, 1], higher is better, 1 =
    the oracle's accuracies. (RUM's code uses percentages and divides gaps by 100.)
    """
    _unit_interval(fa_u=fa_u, fa_r=fa_r, ra_u=ra_u, ra_r=ra_r, ta_u=ta_u, ta_r=ta_r)
    return (1 - abs(fa_u - fa_r)) * (1 - abs(ra_u - ra_r)) * (1 - abs(ta_u - ta_r))


def tow_mia(mia_u: float, mia_r: float, ra_u: float, ra_r: float, ta_u: float, ta_r: float) -> float:
    """ToW-MIA: ToW with the forget-accuracy factor replaced by 1 - |MIA_u - MIA_r|.

    The MIA scores are fractions in [0, 1] (RUM-style code uses SVC MIA-efficacy).
    """
    _unit_interval(mia_u=mia_u, mia_r=mia_r, ra_u=ra_u, ra_r=ra_r, ta_u=ta_u, ta_r=ta_r)
    return (1 - abs(mia_u - mia_r)) * (1 - abs(ra_u - ra_r)) * (1 - abs(ta_u - ta_r))


# --------------------------------------------------------------------------- bootstrap


def bootstrap_ci(
    values: ArrayLike,
    statistic: Callable[[np.ndarray], float] = np.mean,
    n_boot: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile bootstrap interval of ``statistic`` over ``values`` (resampled with replacement).

    Uses ``numpy.random.default_rng(seed)``; the same seed gives the same interval.
    """
    data = np.asarray(_np(values))
    if data.ndim != 1 or data.size == 0:
        raise InvalidParameterError(f"values must be a non-empty 1-D array; got shape {data.shape}")
    if not isinstance(n_boot, int) or n_boot < 1:
        raise InvalidParameterError(f"n_boot must be an int >= 1; got {n_boot!r}")
    if not 0.0 < level < 1.0:
        raise InvalidParameterError(f"level must be in (0, 1); got {level!r}")
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, data.size, size=(n_boot, data.size))
    stats = np.array([float(statistic(data[row])) for row in draws])
    tail = 100.0 * (1.0 - level) / 2.0
    low, high = np.percentile(stats, [tail, 100.0 - tail])
    return float(low), float(high)
