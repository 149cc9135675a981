"""Oracle-free selection: scoring an unlearned model without any retrained model.

What a model retrained without the forget set would show is unknowable
without retraining it, except for one fact that holds by construction: to
that model the forget samples are *never-trained samples of the
distribution they were drawn from*, exchangeable with any other
never-trained sample of that distribution. So its per-example losses on the
forget set and on such samples (the **calibration** set) have the same
distribution, and a loss-threshold attack telling them apart has ROC-AUC 0.5
in expectation. The calibration set is what the kind defines (never test,
never an evaluated held-out sample):

* random forgetting (samples of the training distribution): validation
  samples, which no model is trained on;
* a forget distribution (a class, an identity, a user's interactions): the
  never-trained samples of that distribution carved from the validation pool
  (``Split.heldout_forget_validation``; for recommenders, the validation rows
  of the deleted users).

An unlearned model is scored on those measurements plus what it costs:

    S = ½·KS + ½·|2·AUC − 1| + R + D_val + D_ret + τ·t

* ``KS``: two-sample Kolmogorov–Smirnov statistic between the forget
  samples' and the calibration samples' per-example losses (scipy
  ``ks_2samp``). In [0, 1]; scale-free, so one number means the same on a
  memorising and on a generalising model; it sees differences in spread and
  shape a mean would miss. The retrained model's value is sampling noise
  (about ``1.36·√((n+m)/(n·m))`` at 95 %).
* ``|2·AUC − 1|``: the advantage of the loss-threshold membership attack
  (AUC of −loss, forget = members, calibration = non-members). In [0, 1];
  0 = chance, the retrained model's expected value. Both directions count: a
  forget set pushed to *higher* losses than unseen data (over-forgetting,
  the "Streisand effect") is as visible to an attacker as one remembered.
  The two distance terms share one unit of weight: they measure the same
  thing (can the forget set be told from unseen data) two ways.
* ``R`` (forgotten labels; 0 when no label disappears): the fraction of
  forget and calibration samples predicted as a label that no training row
  of the reference carries (forgetting a whole class, or an identity that is
  the label). A classifier never trained on a label essentially never
  predicts it (every gradient pushes that logit down), so the reference's
  rate is about 0, known without training it. Without this term a recipe
  that makes the forget set look like *unseen samples of the class* (which
  the original still recognises by generalisation) would pass, while the
  reference recognises none of them.
* ``D_val = max(0, 1 − v/v₀)``, ``D_ret = max(0, 1 − r/r₀)``: relative loss
  of validation and retain utility (accuracy; a recommender's validation
  AUC) against the original's ``v₀``, ``r₀``. The reference keeps the
  original's utility up to a little generalisation (it fits the same retain
  data with the same recipe), so any drop is a cost it does not pay; and a
  model destroyed into uniform outputs would make forget and unseen data
  indistinguishable too, which these terms (and the feasibility rule) stop.
  A recommender has no retain outputs: ``D_ret`` is omitted.
* ``τ·t``: time, ``t`` = the method's seconds over the original's training
  seconds (what retraining costs, up to the forget set's share), ``τ = 0.1``:
  a recipe as slow as retraining pays what 10 points of KS cost. It breaks
  ties between recipes equally indistinguishable and keeps a many-times
  slower recipe from winning on a noise-level difference. Omitted when the
  training time is unknown.

**Feasibility**: a recipe whose validation utility falls below
``(1 − tolerance)·v₀ − 2·SE`` is not selectable, whatever its score (a user
states the utility they may lose; default 5 %). ``SE`` is the standard error
of the paired difference ``v − v₀`` over the same validation examples (for
classifiers, of the per-example change in correctness), so a recipe is refused
only when the validation data show it lost more than the tolerance: on a
36-photo validation set one photo is 2.8 points, and a rule on the observed
value alone refuses recipes at random (retraining itself loses about 2.5
points of accuracy on person-level ORL). Recommenders' validation AUC is read
on thousands of rows and its standard error is not estimated (``SE = 0``).

Each distance term is 0 for the retrained model up to sampling noise, so
``S`` is a distance to what retraining would show, measured without it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.stats import ks_2samp

from unlearnkit.errors import InvalidParameterError
from unlearnkit.metrics.attacks import loss_threshold_mia_auc

TIME_WEIGHT = 0.1
DEFAULT_TOLERANCE = 0.05
NOISE_Z = 2.0  # standard errors of the validation difference allowed below the tolerated floor
# Names the score's definition; part of every stored oracle-free trial's key, so a change here re-scores instead of reusing.
SCORE_VERSION = "ks+auc/2, forgotten labels, relative utility drops, time 0.1, floor (1-tol)v0 - 2se"


@dataclass(frozen=True)
class OracleFreeCriteria:
    """What a kind measures about one unlearned model without a reference (see the module docstring)."""

    loss_ks: float  # KS statistic, forget vs calibration per-example losses
    mia_auc: float  # loss-threshold attack ROC-AUC, forget (members) vs calibration
    forgotten_label_rate: float  # share predicted as a label the reference never trains on (0 when none is)
    validation_utility: float  # validation accuracy (classifiers) or AUC (recommenders)
    original_validation_utility: float
    retain_utility: float | None  # retain accuracy; None where the kind has no retain outputs
    original_retain_utility: float | None
    n_forget: int
    n_calibration: int
    # Standard error of (validation utility - the original's), paired over the same examples; 0 where not estimated.
    validation_noise: float = 0.0

    @property
    def distinguishability(self) -> float:
        """½·KS + ½·|2·AUC − 1|, in [0, 1]."""
        return 0.5 * self.loss_ks + 0.5 * abs(2.0 * self.mia_auc - 1.0)

    @property
    def utility_drop(self) -> float:
        """D_val + D_ret (relative drops against the original; gains count as 0)."""
        drop = _relative_drop(self.validation_utility, self.original_validation_utility)
        if self.retain_utility is not None and self.original_retain_utility is not None:
            drop += _relative_drop(self.retain_utility, self.original_retain_utility)
        return drop


@dataclass(frozen=True)
class OracleFreeScore:
    """The combined score of one unlearned model; ``feasible`` is False when it lost more utility than tolerated."""

    total: float
    feasible: bool
    criteria: OracleFreeCriteria
    time_term: float
    why_not: str | None = None


def paired_standard_error(changes: np.ndarray) -> float:
    """Standard error of the mean of per-example changes (e.g. correct now minus correct before); 0 for fewer than 2."""
    changes = np.asarray(changes, dtype=np.float64)
    return float(changes.std(ddof=1) / np.sqrt(changes.size)) if changes.size > 1 else 0.0


def _relative_drop(value: float, original: float) -> float:
    return max(0.0, 1.0 - value / original) if original > 0 else 0.0


def loss_distance(forget_losses: np.ndarray, calibration_losses: np.ndarray, where: str) -> tuple[float, float]:
    """(KS statistic, loss-threshold attack AUC) of forget vs calibration losses; both sets need 2 or more samples."""
    forget, calibration = np.asarray(forget_losses, dtype=np.float64), np.asarray(calibration_losses, dtype=np.float64)
    if forget.size < 2 or calibration.size < 2:
        raise InvalidParameterError(
            f"oracle-free selection compares the forget set with never-trained samples of its distribution ({where}) and "
            f"needs at least 2 of each; got {forget.size} forget and {calibration.size} calibration samples"
        )
    return float(ks_2samp(forget, calibration).statistic), loss_threshold_mia_auc(forget, calibration)


def forgotten_label_rate(predictions: np.ndarray, true_labels: np.ndarray, reference_labels: np.ndarray) -> float:
    """Share of ``predictions`` that name a label found in ``true_labels`` but in none of the reference's training rows.

    0 when every label of the forget and calibration samples stays in the
    reference's training data (nothing to measure: the reference still
    predicts those labels).
    """
    vanished = np.setdiff1d(np.unique(true_labels), np.unique(reference_labels))
    if vanished.size == 0 or predictions.size == 0:
        return 0.0
    return float(np.isin(predictions, vanished).mean())


def check_tolerance(value: object, name: str = "tolerance") -> float:
    """``value`` as a utility tolerance, or an error naming ``name``: the one rule for ``tune`` and requests alike."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 <= value < 1.0:
        raise InvalidParameterError(
            f"{name} must be in [0, 1): the share of the original's validation utility (accuracy; AUC for recommenders) "
            f"a setting may lose and stay selectable; got {value!r}"
        )
    return float(value)


def check_training_seconds(value: object, name: str = "training_seconds") -> float:
    """``value`` as the original's training time, the time term's unit, or an error naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not (math.isfinite(value) and value > 0):
        raise InvalidParameterError(
            f"{name} must be a finite number of seconds above 0 (how long training the original took, the unit of the "
            f"score's time term); got {value!r}"
        )
    return float(value)


def oracle_free_score(
    criteria: OracleFreeCriteria, seconds: float, training_seconds: float | None, tolerance: float = DEFAULT_TOLERANCE
) -> OracleFreeScore:
    """``S`` of the module docstring from a kind's criteria, the method's seconds and the original's training seconds."""
    check_tolerance(tolerance)
    time_term = 0.0 if training_seconds is None or training_seconds <= 0 else TIME_WEIGHT * seconds / training_seconds
    total = criteria.distinguishability + criteria.forgotten_label_rate + criteria.utility_drop + time_term
    floor = (1.0 - tolerance) * criteria.original_validation_utility - NOISE_Z * criteria.validation_noise
    if criteria.validation_utility < floor:
        why = (
            f"validation utility {criteria.validation_utility:.3f} is below {1.0 - tolerance:.2f} x the original's "
            f"{criteria.original_validation_utility:.3f}"
            + (f" by more than {NOISE_Z:g} standard errors ({criteria.validation_noise:.3f})" if criteria.validation_noise else "")
        )
        return OracleFreeScore(total, False, criteria, time_term, why)
    return OracleFreeScore(total, True, criteria, time_term)
