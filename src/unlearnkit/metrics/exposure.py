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
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from scipy.stats import skewnorm

from unlearnkit.data.text.canaries import Canary
from unlearnkit.data.text.tokenize import ByteTokenizer
from unlearnkit.errors import InvalidParameterError
from unlearnkit.metrics.functional import ArrayLike, _np
from unlearnkit.training.language_model import PrefixCachingLM, continuation_log_likelihood


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


@dataclass(frozen=True)
class CanaryExposure:
    """Exposure of one canary under one model.

    ``log_perplexity`` = -log Pr(secret | prefix) in nats; ``rank`` is among
    the ``n_candidates`` scored other secrets plus the canary;
    ``sampled_bits`` is :func:`sampled_exposure` (exact when every other
    secret was scored), ``skew_normal_bits`` :func:`skew_normal_exposure`
    capped at log2 ``space_size``.
    """

    name: str
    secret: str
    log_perplexity: float
    rank: int
    n_candidates: int
    space_size: int
    sampled_bits: float
    skew_normal_bits: float


def _other_secrets(secret: int, space: int, n: int | None, generator: torch.Generator) -> torch.Tensor:
    if n is None:
        others = torch.arange(space)
        return others[others != secret]
    if n < 10 or n >= space:
        raise InvalidParameterError(f"n_candidates must lie in [10, {space - 1}] for a space of {space} secrets (None scores all); got {n}")
    if space <= 10**7:  # without replacement
        draw = torch.randperm(space, generator=generator)[: n + 1]
        return draw[draw != secret][:n]
    draw = torch.randint(0, space - 1, (n,), generator=generator)
    return draw + (draw >= secret).long()  # uniform over the space minus the secret


def canary_exposures(
    model: PrefixCachingLM,
    canaries: Sequence[Canary],
    generator: torch.Generator,
    *,
    n_candidates: int | None = 2000,
    tokenizer: ByteTokenizer | None = None,
) -> list[CanaryExposure]:
    """The exposure of every canary under ``model`` (a byte-level causal LM).

    For each canary, ``n_candidates`` other secrets of the same number of
    digits are drawn uniformly without replacement from ``generator`` (None:
    all of them, for an exact rank), and each secret's likelihood after the
    document start and the canary's prefix is computed. Both estimators are
    returned; :attr:`CanaryExposure.skew_normal_bits` does not saturate.
    """
    tok = tokenizer or ByteTokenizer()
    results = []
    for canary in canaries:
        digits = len(canary.secret)
        space = 10**digits
        secret = int(canary.secret)
        others = _other_secrets(secret, space, n_candidates, generator)
        candidates = torch.cat([torch.tensor([secret]), others])
        text = [f"{int(c):0{digits}d}" for c in candidates.tolist()]
        ids = torch.stack([tok.encode(t) for t in text])
        log_likelihood = continuation_log_likelihood(model, tok.encode(canary.prefix, bos=True), ids).numpy()
        perplexity = -log_likelihood
        canary_score, other_scores = float(perplexity[0]), perplexity[1:]
        results.append(
            CanaryExposure(
                name=canary.name,
                secret=canary.secret,
                log_perplexity=canary_score,
                rank=rank_among(canary_score, other_scores),
                n_candidates=len(other_scores),
                space_size=space,
                sampled_bits=sampled_exposure(canary_score, other_scores),
                skew_normal_bits=skew_normal_exposure(canary_score, other_scores, space_size=space),
            )
        )
    return results
