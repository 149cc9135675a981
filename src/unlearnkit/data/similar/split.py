"""Placing similar samples in a split: every constructed copy is a training (retain) sample."""

from __future__ import annotations

import numpy as np

from unlearnkit.data.similar.base import SimilarSet
from unlearnkit.data.splits import Split
from unlearnkit.errors import SplitError


def attach_similar(split: Split, similar: SimilarSet) -> Split:
    """``split`` extended to the constructed rows of ``similar``.

    ``split`` was built on the original data (``similar.n_original`` rows).
    Every appended copy joins ``train`` and so the retain set, never
    validation or test; ``forget`` is unchanged. A copy whose target belongs
    to the forget distribution belongs to it too. Neighbours found among
    existing rows must already be retain samples, and every target a
    training sample; otherwise :class:`SplitError`.
    """
    if split.n_samples != similar.n_original:
        raise SplitError(f"the split covers {split.n_samples} rows but the similar samples were built on {similar.n_original}")
    outside = np.setdiff1d(similar.targets, split.train)
    if outside.size:
        raise SplitError(f"{outside.size} targets are not training samples (e.g. rows {outside[:5].tolist()})")
    existing = np.unique(similar.rows[similar.rows < similar.n_original])
    misplaced = np.setdiff1d(existing, split.retain)
    if misplaced.size:
        raise SplitError(
            f"{misplaced.size} neighbours are not retain samples (e.g. rows {misplaced[:5].tolist()}); "
            "find neighbours only among retain rows"
        )
    copies = similar.copies
    n_samples = similar.n_original + copies.size
    distribution = split.forget_distribution
    if distribution is not None:
        joins = similar.rows[(similar.rows >= similar.n_original) & np.isin(similar.target_of, distribution)]
        distribution = np.union1d(distribution, joins)
    return Split(
        n_samples,
        np.union1d(split.train, copies),
        split.forget,
        split.validation,
        split.test,
        split.heldout_forget,
        distribution,
    )
