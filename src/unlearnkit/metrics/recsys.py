"""Pure recommendation metrics: pointwise AUC (and its forget-touched subsets), top-K ranking,
closeness to the retrained model, a membership test on forgotten interactions, and recovery.

Conventions: scores are logits (higher = more likely positive). In the
membership test a trained-on interaction is the positive class and the
attack score is "higher = more likely trained on" (as in ``functional.py``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from sklearn.metrics import roc_auc_score

from unlearnkit.errors import InvalidParameterError

ArrayLike = np.ndarray | torch.Tensor | Sequence[float]


def _np(values: ArrayLike) -> np.ndarray:
    if isinstance(values, torch.Tensor):
        return values.detach().cpu().numpy()
    return np.asarray(values)


def pointwise_auc(scores: ArrayLike, labels: ArrayLike) -> float:
    """ROC-AUC of the scores against 0/1 labels over held-out rows (IFRU's AUC). Higher is better."""
    scores, labels = _np(scores).astype(float), _np(labels)
    if scores.shape != labels.shape:
        raise InvalidParameterError(f"scores and labels differ in shape: {scores.shape} vs {labels.shape}")
    if np.unique(labels).size < 2:
        raise InvalidParameterError(f"AUC needs both labels; the {labels.size} rows have only {np.unique(labels).tolist()}")
    return float(roc_auc_score(labels, scores))


def touched_masks(
    users: ArrayLike, items: ArrayLike, forget_users: ArrayLike, forget_items: ArrayLike
) -> tuple[np.ndarray, np.ndarray]:
    """Masks of rows whose user *or* item, and user *and* item, occur in the forget rows.

    V_u = users and items of the forget rows (``baiyimeng/IFRU`` ``get_eval_mask``).
    """
    user_hit = np.isin(_np(users), _np(forget_users))
    item_hit = np.isin(_np(items), _np(forget_items))
    return user_hit | item_hit, user_hit & item_hit


def touched_auc(
    scores: ArrayLike, labels: ArrayLike, users: ArrayLike, items: ArrayLike,
    forget_users: ArrayLike, forget_items: ArrayLike,
) -> dict[str, float]:
    """AUC-or and AUC-and: the pointwise AUC on rows touched by the forget set's users/items."""
    scores, labels = _np(scores), _np(labels)
    either, both = touched_masks(users, items, forget_users, forget_items)
    return {"auc_or": pointwise_auc(scores[either], labels[either]), "auc_and": pointwise_auc(scores[both], labels[both])}


def ranking_metrics(
    scores: ArrayLike,
    train_users: ArrayLike,
    train_items: ArrayLike,
    test_users: ArrayLike,
    test_items: ArrayLike,
    k: int = 20,
) -> dict[str, float]:
    """Recall@k, NDCG@k and HR@k over the full item ranking, averaged over users with test positives.

    ``scores`` is (n_users, n_items); each user's training positives are
    masked (never recommended); the test pairs are test *positives*.
    IDCG sums 1/log2(r+1) over r = 1..min(k, |T_u|). Ties in scores are
    broken by the lower item id.
    """
    matrix = torch.as_tensor(_np(scores), dtype=torch.float64).clone()
    n_users, n_items = matrix.shape
    if not 1 <= k <= n_items:
        raise InvalidParameterError(f"k must be in [1, {n_items}]; got {k}")
    matrix[torch.as_tensor(_np(train_users), dtype=torch.long), torch.as_tensor(_np(train_items), dtype=torch.long)] = -np.inf
    test_users, test_items = _np(test_users).astype(np.int64), _np(test_items).astype(np.int64)
    relevant = np.zeros((n_users, n_items), dtype=bool)
    relevant[test_users, test_items] = True
    evaluated = np.flatnonzero(relevant.any(axis=1))
    if evaluated.size == 0:
        raise InvalidParameterError("no user has a test positive; ranking metrics are undefined")
    # Stable descending sort: ties keep item order (lower id first).
    top = torch.sort(matrix[evaluated], dim=1, descending=True, stable=True).indices[:, :k].numpy()
    hits = relevant[evaluated[:, None], top]  # (users, k)
    n_relevant = relevant[evaluated].sum(axis=1)
    discount = 1.0 / np.log2(np.arange(2, k + 2))
    dcg = (hits * discount).sum(axis=1)
    idcg = np.cumsum(discount)[np.minimum(n_relevant, k) - 1]
    return {
        "recall": float((hits.sum(axis=1) / n_relevant).mean()),
        "ndcg": float((dcg / idcg).mean()),
        "hit_rate": float(hits.any(axis=1).mean()),
        "n_users": int(evaluated.size),
    }


def retrain_correlation(unlearned: ArrayLike, retrained: ArrayLike) -> float:
    """Pearson correlation of two models' predictions on the same rows (1 = identical up to scale). UT."""
    a, b = _np(unlearned).astype(float), _np(retrained).astype(float)
    if a.shape != b.shape or a.size < 2:
        raise InvalidParameterError(f"need two prediction vectors of equal length >= 2; got {a.shape} and {b.shape}")
    if a.std() == 0 or b.std() == 0:
        raise InvalidParameterError("correlation is undefined for constant predictions")
    return float(np.corrcoef(a, b)[0, 1])


def bce_per_row(scores: ArrayLike, labels: ArrayLike) -> np.ndarray:
    """Binary cross-entropy of every row's logit against its 0/1 label."""
    logits = torch.as_tensor(_np(scores), dtype=torch.float64)
    return torch.nn.functional.binary_cross_entropy_with_logits(
        logits, torch.as_tensor(_np(labels), dtype=torch.float64), reduction="none"
    ).numpy()


def membership_auc(member_losses: ArrayLike, nonmember_losses: ArrayLike) -> float:
    """Threshold-free loss attack: ROC-AUC of -loss separating members from non-members.

    Members are the forgotten interactions (with the labels the original
    trained on), non-members held-out interactions. 0.5 = indistinguishable;
    the reference is the same attack on the retrained model, not 0.5
    (flipped forget labels make a retrained model score *below* 0.5). UT.
    """
    members, nonmembers = _np(member_losses).astype(float), _np(nonmember_losses).astype(float)
    if members.size == 0 or nonmembers.size == 0:
        raise InvalidParameterError(f"membership AUC needs members and non-members; got {members.size} and {nonmembers.size}")
    labels = np.r_[np.ones(members.size), np.zeros(nonmembers.size)]
    return float(roc_auc_score(labels, -np.r_[members, nonmembers]))


def recovery(unlearned: float, original: float, retrained: float) -> float:
    """(M_U - M_O) / (M_R - M_O): 0 = no change from the original, 1 = the retrained value. UT.

    Undefined (raises) when retraining did not change the metric.
    """
    gap = retrained - original
    if abs(gap) < 1e-12:
        raise InvalidParameterError(f"recovery is undefined: the retrained and original values are equal ({original})")
    return float((unlearned - original) / gap)
