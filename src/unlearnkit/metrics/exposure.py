r"""Canary exposure (Carlini, Liu, Erlingsson, Kos, Song, "The Secret Sharer", USENIX Security 2019).

A canary is a format string s[r] with a secret r drawn uniformly from a
randomness space R (six digits: |R| = 10^6). Under a model, the
log-perplexity of candidate r' is Px(r') = -log Pr(r' | the format's prefix)
(any log base; lower = more likely). The canary's rank is the number of
candidates at least as likely as it, itself included,

    rank(r) = |{r' in R : Px(r') <= Px(r)}|        (1 = the model's favourite),

and its exposure, in bits,

    exposure(r) = log2 |R| - log2 rank(r)          in [0, log2 |R|].

A never-seen canary ranks in the middle on average (about 1 bit); a
memorised one ranks first (log2 |R| bits). Ties count against the canary
(conservative). Scoring all of R is costly, so two estimators use a random
sample C of other candidates:

* :func:`sampled_exposure`: the rank among C u {r}, so
  ``log2(|C| + 1) - log2 rank``. It saturates at ``log2(|C| + 1)``.
* :func:`skew_normal_exposure` (Carlini et al., Section 4.3): fit a
  skew-normal density to {Px(c) : c in C}; its CDF F estimates the fraction
  of R at least as likely as the canary, so ``exposure ~ -log2 F(Px(r))``.
  It extrapolates beyond the sample and does not saturate at log2 |C|;
  since rank >= 1 it is capped at log2 |R| when ``space_size`` is given.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.stats import skewnorm

from unlearnkit.errors import InvalidParameterError
from unlearnkit.metrics.functional import ArrayLike, _np


def exposure_from_rank(rank: int, space_size: int) -> float:
    """``log2 space_size - log2 rank`` (rank 1 of 1024 -> 10 bits)."""
    if space_size < 1 or not 1 <= rank <= space_size:
        raise InvalidParameterError(f"rank must lie in [1, space_size]; got rank={rank}, space_size={space_size}")
    return math.log2(space_size) - math.log2(rank)


def rank_among(canary_score: float, candidate_scores: ArrayLike) -> int:
    """1 + the number of other candidates with log-perplexity <= the canary's (ties count against it)."""
    scores = _np(candidate_scores).astype(np.float64)
    if not math.isfinite(canary_score) or not np.isfinite(scores).all():
        raise InvalidParameterError("log-perplexities must be finite")
    return 1 + int((scores <= canary_score).sum())


def sampled_exposure(canary_score: float, candidate_scores: ArrayLike) -> float:
    """Exposure from the rank among the sampled candidates plus the canary; saturates at log2(n + 1)."""
    n = len(_np(candidate_scores))
    return exposure_from_rank(rank_among(canary_score, candidate_scores), n + 1)


def skew_normal_exposure(canary_score: float, candidate_scores: ArrayLike, space_size: int | None = None) -> float:
    """Exposure from a skew-normal fit to the candidates' log-perplexities: ``-log2 F(canary_score)``.

    ``F`` is the CDF of the skew-normal fitted (maximum likelihood, SciPy)
    to ``candidate_scores``; ``logcdf`` keeps far tails finite. With
    ``space_size`` (|R|) the result is capped at ``log2 space_size``. Needs
    at least 10 candidates.
    """
    scores = _np(candidate_scores).astype(np.float64)
    if scores.size < 10:
        raise InvalidParameterError(f"the skew-normal fit needs at least 10 candidate scores; got {scores.size}")
    if not math.isfinite(canary_score) or not np.isfinite(scores).all():
        raise InvalidParameterError("log-perplexities must be finite")
    if float(scores.std()) == 0.0:
        raise InvalidParameterError("all candidate log-perplexities are equal; the model does not tell the candidates apart")
    shape, loc, scale = skewnorm.fit(scores)
    bits = max(0.0, -float(skewnorm.logcdf(canary_score, shape, loc, scale)) / math.log(2))
    return min(bits, math.log2(space_size)) if space_size is not None else bits
