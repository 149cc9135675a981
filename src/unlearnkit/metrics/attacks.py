"""Membership-inference attacks on a single model, as pure functions.

Convention (as in :mod:`.functional`): members are the positive class and
every score is oriented so that **higher = more likely a member**.  AUCs are
computed only by :func:`membership_auc`.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from scipy.special import log_softmax
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from unlearnkit.errors import InvalidParameterError
from unlearnkit.metrics.challenge import logit_scaled_confidence, true_class_and_rest
from unlearnkit.metrics.functional import ArrayLike, _np

ScoreKind = Literal["loss", "confidence", "entropy", "logit_scaled_confidence", "margin"]
SCORE_KINDS: tuple[str, ...] = ("loss", "confidence", "entropy", "logit_scaled_confidence", "margin")


def prediction_entropy(probs: ArrayLike) -> np.ndarray:
    """H(p) = -Σ_j p_j log p_j per row (0 log 0 = 0), from probabilities ``(n, n_classes)``."""
    p = np.asarray(_np(probs), dtype=np.float64)
    if p.ndim != 2:
        raise InvalidParameterError(f"probabilities must have shape (n, n_classes); got {p.shape}")
    if (p < 0).any() or not np.isfinite(p).all():
        raise InvalidParameterError("probabilities must be finite and non-negative")
    safe = np.where(p > 0, p, 1.0)
    entropy: np.ndarray = -(p * np.log(safe)).sum(1)
    return entropy


def confidence_scores(logits: ArrayLike, labels: ArrayLike, kind: ScoreKind = "confidence") -> np.ndarray:
    """Per-example membership score from logits, oriented higher = more likely member.

    ``loss``: -CE; ``confidence``: p_y; ``entropy``: -H(p) (members get
    confident, low-entropy predictions); ``logit_scaled_confidence``: LiRA's
    log p_y - log Σ_{j≠y} p_j with the official 1e-45 floor; ``margin``:
    z_y - logsumexp_{j≠y} z_j.  Computed in float64.
    """
    if kind not in SCORE_KINDS:
        raise InvalidParameterError(f"kind must be one of {', '.join(SCORE_KINDS)}; got {kind!r}")
    if kind == "logit_scaled_confidence":
        return logit_scaled_confidence(logits, labels)
    true, rest = true_class_and_rest(logits, labels)
    if kind == "margin":
        margin: np.ndarray = true - rest
        return margin
    log_p_true: np.ndarray = true - np.logaddexp(true, rest)
    if kind == "loss":
        return log_p_true
    if kind == "confidence":
        p_true: np.ndarray = np.exp(log_p_true)
        return p_true
    log_p = log_softmax(np.asarray(_np(logits), dtype=np.float64), axis=-1)
    negative_entropy: np.ndarray = (np.exp(log_p) * log_p).sum(-1)
    return negative_entropy


def _scores(values: ArrayLike, name: str) -> np.ndarray:
    array = np.asarray(_np(values), dtype=np.float64).reshape(-1)
    if array.size == 0:
        raise InvalidParameterError(f"{name} must not be empty")
    if np.isnan(array).any():
        raise InvalidParameterError(f"{name} contain NaN")
    return array


def membership_auc(member_scores: ArrayLike, nonmember_scores: ArrayLike) -> float:
    """ROC-AUC of separating members (positive) from non-members by a higher-is-member score.

    1 = every member scores above every non-member; 0.5 = chance; ties count half.
    """
    members = _scores(member_scores, "member scores")
    nonmembers = _scores(nonmember_scores, "non-member scores")
    labels = np.r_[np.ones(members.size), np.zeros(nonmembers.size)]
    return float(roc_auc_score(labels, np.r_[members, nonmembers]))


def loss_threshold_mia_auc(member_losses: ArrayLike, nonmember_losses: ArrayLike) -> float:
    """AUC of the loss-threshold attack: score = -loss (a lower loss means member)."""
    return membership_auc(-_scores(member_losses, "member losses"), -_scores(nonmember_losses, "non-member losses"))


def entropy_mia(member_probs: ArrayLike, nonmember_probs: ArrayLike, target_probs: ArrayLike) -> float:
    """Entropy-LR MIA (SCRUB, Bad Teacher, SSD ``get_membership_attack_prob``).

    Fits ``LogisticRegression(class_weight="balanced")`` on the prediction
    entropy of members (label 1; the retain set) and non-members (label 0;
    the test set), then returns the fraction of ``target_probs`` rows (the
    forget set) predicted member.  Inputs are softmax probabilities
    ``(n, n_classes)``.  Lower means more forget samples look unseen; the
    target is the retrained model's value, not 0.
    """
    members, nonmembers, targets = (prediction_entropy(p) for p in (member_probs, nonmember_probs, target_probs))
    if members.size == 0 or nonmembers.size == 0 or targets.size == 0:
        raise InvalidParameterError("the entropy MIA needs non-empty member, non-member and target sets")
    features = np.r_[members, nonmembers][:, None]
    labels = np.r_[np.ones(members.size), np.zeros(nonmembers.size)]
    attack = LogisticRegression(class_weight="balanced").fit(features, labels)
    return float((attack.predict(targets[:, None]) == 1).mean())
