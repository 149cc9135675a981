"""Pure metric formulas on numbers and arrays (no models, no state).

Membership-inference convention, fixed here once: a member (a sample the
model was trained on) is the positive class; attack scores are "higher =
more likely a member"; MIA accuracies of 0.5 mean the attacker cannot tell.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedShuffleSplit, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC
from threadpoolctl import threadpool_limits

from unlearnkit.errors import InvalidParameterError

ArrayLike = np.ndarray | torch.Tensor | Sequence[float]


def _np(values: ArrayLike | float) -> np.ndarray:
    if isinstance(values, torch.Tensor):
        return values.detach().cpu().numpy()
    return np.asarray(values)


def accuracy(logits: ArrayLike, labels: ArrayLike) -> float:
    """Fraction of rows whose arg-max logit equals the label."""
    logits, labels = _np(logits), _np(labels)
    if len(labels) == 0:
        raise InvalidParameterError("accuracy of an empty set is undefined")
    return float((logits.argmax(1) == labels).mean())


def per_example_loss(logits: ArrayLike, labels: ArrayLike) -> np.ndarray:
    """Cross-entropy of every row."""
    return F.cross_entropy(torch.as_tensor(_np(logits)), torch.as_tensor(_np(labels)).long(), reduction="none").numpy()


def true_class_confidence(logits: ArrayLike, labels: ArrayLike) -> np.ndarray:
    """softmax(logits)[label] for every row."""
    probs = torch.softmax(torch.as_tensor(_np(logits), dtype=torch.float64), dim=1)
    return probs[torch.arange(len(probs)), torch.as_tensor(_np(labels)).long()].numpy()


def mia_loss_lr(member_losses: ArrayLike, nonmember_losses: ArrayLike, *, n_splits: int = 10, seed: int = 0) -> float:
    """MUFAC-style loss attack: mean cross-validated accuracy of a logistic regression on the loss.

    Members (label 1) are forget samples, non-members (label 0) unseen
    samples. The larger set is truncated at random to the size of the smaller
    (as the MUFAC and NeurIPS-2023 starting kits do), so 0.5 is chance.
    ``StratifiedShuffleSplit(n_splits)`` with 10 % (at least 2) held out.

    Deviation from the MUFAC code, which fits ``LogisticRegression()`` on raw
    losses: the loss is standardised first. With raw losses of a memorised
    set (~1e-3) the default L2 penalty (C=1) flattens the fit to chance even
    when members and non-members are perfectly separable; on well-scaled
    losses the two agree.
    """
    members, nonmembers = _np(member_losses).astype(float), _np(nonmember_losses).astype(float)
    n = min(len(members), len(nonmembers))
    if n < 2:
        raise InvalidParameterError(f"the loss MIA needs at least 2 members and 2 non-members; got {len(members)} and {len(nonmembers)}")
    rng = np.random.default_rng(seed)
    members = rng.permutation(members)[:n]
    nonmembers = rng.permutation(nonmembers)[:n]
    features = np.r_[members, nonmembers][:, None]
    labels = np.r_[np.ones(n), np.zeros(n)]
    cv = StratifiedShuffleSplit(n_splits=n_splits, test_size=max(0.1, 2 / (2 * n)), random_state=seed)
    attack = make_pipeline(StandardScaler(), LogisticRegression())
    # One BLAS thread: these fits are tiny and oversubscription makes them crawl under load.
    with threadpool_limits(limits=1, user_api="blas"):
        return float(cross_val_score(attack, features, labels, cv=cv, scoring="accuracy").mean())


def loss_threshold_auc(member_losses: ArrayLike, nonmember_losses: ArrayLike) -> float:
    """ROC-AUC of the loss-threshold attack: members are called members when their loss is low.

    The attack scores every example by minus its loss; the AUC is the
    probability that a random member scores above a random non-member (ties
    count half). 0.5 = the attacker cannot tell; no model is fitted, so no
    seed and no cross-validation are involved.
    """
    members, nonmembers = _np(member_losses).astype(float), _np(nonmember_losses).astype(float)
    if len(members) == 0 or len(nonmembers) == 0:
        raise InvalidParameterError(f"the loss-threshold AUC needs members and non-members; got {len(members)} and {len(nonmembers)}")
    labels = np.r_[np.ones(len(members)), np.zeros(len(nonmembers))]
    return float(roc_auc_score(labels, -np.r_[members, nonmembers]))


def loss_rank_scores(member_losses: ArrayLike, nonmember_losses: ArrayLike) -> np.ndarray:
    """Each member's membership score: the share of non-members whose loss is higher (ties count half), in [0, 1].

    1 = the member's loss is below every non-member's (it looks trained on);
    0.5 = it sits in the middle of the non-members. The mean over members is
    :func:`loss_threshold_auc`, so these are that attack's per-example terms.
    """
    members, nonmembers = _np(member_losses).astype(float), np.sort(_np(nonmember_losses).astype(float))
    if len(nonmembers) == 0:
        raise InvalidParameterError("membership scores need at least one non-member")
    below_or_equal = np.searchsorted(nonmembers, members, side="right")
    below = np.searchsorted(nonmembers, members, side="left")
    higher = len(nonmembers) - below_or_equal
    scores: np.ndarray = (higher + 0.5 * (below_or_equal - below)) / len(nonmembers)
    return scores


def forgetting_score(mia_accuracy: float) -> float:
    """FS = |A_MIA - 0.5| (MUFAC code convention; the DLFD paper writes twice this)."""
    return abs(mia_accuracy - 0.5)


def nomus(test_acc: float, mia_acc: float, lam: float = 0.5) -> float:
    """NoMUS = lam * test_acc + (1 - lam) * (1 - 2 * |mia_acc - 0.5|), in [0, 1]."""
    if not 0.0 <= lam <= 1.0:
        raise InvalidParameterError(f"lam must be in [0, 1]; got {lam}")
    return lam * test_acc + (1.0 - lam) * (1.0 - 2.0 * forgetting_score(mia_acc))


def mia_efficacy(
    shadow_member_conf: ArrayLike, shadow_nonmember_conf: ArrayLike, forget_conf: ArrayLike
) -> float:
    """SalUn/Unlearn-Sparse MIA-Efficacy: fraction of forget samples an SVC calls non-members.

    The SVC (C=3, gamma="auto", RBF) is fitted on true-class confidence of
    shadow members (retain samples) vs non-members (test samples). Higher
    means more forget samples look unseen; the target is the retrained
    model's value, not 1.
    """
    members, nonmembers, forget = _np(shadow_member_conf), _np(shadow_nonmember_conf), _np(forget_conf)
    if len(members) == 0 or len(nonmembers) == 0 or len(forget) == 0:
        raise InvalidParameterError("MIA-efficacy needs non-empty shadow members, non-members and forget samples")
    features = np.r_[members, nonmembers].astype(float)[:, None]
    labels = np.r_[np.ones(len(members)), np.zeros(len(nonmembers))]
    attack = SVC(C=3, gamma="auto", kernel="rbf").fit(features, labels)
    return float((attack.predict(forget.astype(float)[:, None]) == 0).mean())


GAP_KEYS = ("forget_acc", "retain_acc", "test_acc", "mia_efficacy")


def avg_gap(unlearned: Mapping[str, float], retrained: Mapping[str, float], keys: Sequence[str] = GAP_KEYS) -> float:
    """Mean absolute difference to the retrained model over ``keys``, in percentage points.

    With the default keys this is OPTML's Avg. Gap over (UA, RA, TA,
    MIA-Efficacy); |UA_u - UA_r| = |FA_u - FA_r| so forget accuracy is used.
    """
    missing = [k for k in keys if k not in unlearned or k not in retrained]
    if missing:
        raise InvalidParameterError(f"avg_gap needs {list(keys)}; missing {missing}")
    return float(100.0 * np.mean([abs(unlearned[k] - retrained[k]) for k in keys]))


def speedup(reference_seconds: float, seconds: float) -> float:
    """How many times faster than the reference (retraining) a method was."""
    if seconds <= 0:
        return float("inf")
    return reference_seconds / seconds
