"""Similar samples of an experiment's forget set: built once from the ``similar`` table of a configuration.

:class:`SimilarSpec` wraps a constructor with what the experiment adds:

* ``seed``: the construction draws from its own ``torch.Generator``, so the
  copies are fixed across model seeds (seed-to-seed noise is measured on one
  data set) and recorded in the experiment's setting (and so its keys);
* ``doses``: a dose-response design inside one experiment. The targets (the
  forget set S) are shuffled by the construction's generator and dealt in
  turn to the doses, a target of dose k receiving k copies; every model of
  the experiment then sees every dose, so curves over k are paired;
* ``heldout``: that many extra copies of each target that are never trained
  on (the held-out split of the forget distribution, like the unseen photos
  of a forgotten person).

The split that results (:func:`similar_split`): constructed copies join the
training set (hence the retain set), never validation or test; the forget
distribution becomes S u N(S) (the recorded copies and neighbours, joined to
any distribution the selector defined), so retraining without it is the
oracle A(D \\ N(S)) of the "unlearning" goal while retraining on the retain
set stays A(D \\ S).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import numpy as np
import torch

from unlearnkit.data.dataset import ClassificationData
from unlearnkit.data.similar.base import SimilarConstructor, SimilarSet
from unlearnkit.data.splits import Split
from unlearnkit.data.text.dataset import TextData
from unlearnkit.errors import InvalidParameterError, SplitError

D = TypeVar("D", ClassificationData, TextData)


@dataclass(frozen=True, eq=False)
class SimilarBuild(Generic[D]):
    """The data with the copies appended, the split placing them, and the record of who is similar to whom."""

    data: D
    split: Split
    similar: SimilarSet
    heldout: np.ndarray  # appended rows never trained on (fresh copies of the targets)


def merge_similar(sets: Sequence[SimilarSet], targets: np.ndarray, constructor: str, params: dict[str, Any], n_original: int) -> SimilarSet:
    """One record of several constructions over disjoint groups of ``targets`` (targets without copies included)."""
    empty_i, empty_f = np.zeros(0, np.int64), np.zeros(0, np.float64)
    rows = np.concatenate([empty_i, *(s.rows for s in sets)])
    target_of = np.concatenate([empty_i, *(s.target_of for s in sets)])
    score = np.concatenate([empty_f, *(s.score.astype(np.float64) for s in sets)])
    return SimilarSet(constructor, params, n_original, np.sort(targets.astype(np.int64)), rows, target_of, score)


def similar_split(split: Split, similar: SimilarSet, heldout: np.ndarray, n_samples: int) -> Split:
    """``split`` (built on the first ``similar.n_original`` rows) extended to the copies of ``similar`` and ``heldout``."""
    if split.n_samples != similar.n_original:
        raise SplitError(f"the split covers {split.n_samples} rows but the similar samples were built on {similar.n_original}")
    outside = np.setdiff1d(similar.targets, split.forget)
    if outside.size:
        raise SplitError(f"{outside.size} targets are not forget samples (e.g. rows {outside[:5].tolist()})")
    existing = np.unique(similar.rows[similar.rows < similar.n_original])
    misplaced = np.setdiff1d(existing, split.retain)
    if misplaced.size:
        raise SplitError(f"{misplaced.size} neighbours are not retain samples (e.g. rows {misplaced[:5].tolist()})")
    base = split.forget if split.forget_distribution is None else split.forget_distribution
    distribution = np.union1d(base, similar.rows)
    held = heldout if split.heldout_forget is None else np.union1d(split.heldout_forget, heldout)
    return Split(
        n_samples,
        np.union1d(split.train, similar.copies),
        split.forget,
        split.validation,
        split.test,
        held if (held.size or split.heldout_forget is not None) else None,
        distribution,
    )


class SimilarSpec:
    """A constructor plus the experiment's ``seed``, ``doses`` and ``heldout`` (see the module docstring).

    Built from a validated configuration; ``build`` still refuses what a
    constructor cannot do (doses or held-out copies from a constructor that
    only finds neighbours).
    """

    def __init__(self, constructor: SimilarConstructor, *, seed: int = 0, doses: Sequence[int] | None = None, heldout: int = 0) -> None:
        self.constructor = constructor
        self.seed = seed
        self.doses = None if doses is None else [int(d) for d in doses]
        self.heldout = heldout

    def describe(self) -> dict[str, Any]:
        params = self.constructor.get_params()
        return {"name": self.constructor.name, **params, "seed": self.seed, "doses": self.doses, "heldout": self.heldout}

    def _with_copies(self, copies: int) -> SimilarConstructor:
        if not self.constructor.appends:
            name = self.constructor.name
            raise InvalidParameterError(f"similar-sample constructor {name!r} finds neighbours; it cannot make {copies} copies")
        return type(self.constructor).from_params({**self.constructor.get_params(), "copies": copies})

    def dose_of(self, targets: np.ndarray, generator: torch.Generator) -> np.ndarray:
        """The number of copies of each target (aligned with ``targets``): doses dealt in turn after a seeded shuffle."""
        if self.doses is None:
            raise InvalidParameterError("no doses were given")
        order = torch.randperm(len(targets), generator=generator).numpy()
        dose = np.zeros(len(targets), np.int64)
        dose[order] = np.resize(np.asarray(self.doses, np.int64), len(targets))
        return dose

    def build(self, data: D, split: Split) -> SimilarBuild[D]:
        """Copies (or neighbours) of the forget set of ``split``, placed by :func:`similar_split`."""
        generator = torch.Generator().manual_seed(self.seed)
        targets, n_original = split.forget, len(data)
        params = self.constructor.get_params()
        if self.doses is None:
            built = self.constructor.construct(data, targets, pool=split.retain, generator=generator)
            extended, similar = built.data, built.similar
        else:
            dose = self.dose_of(targets, generator)
            extended, sets = data, []
            for k in sorted(set(dose.tolist()) - {0}):
                built = self._with_copies(k).construct(extended, targets[dose == k], generator=generator)
                extended = built.data
                sets.append(built.similar)
            params = {**params, "copies": None, "doses": self.doses}
            similar = merge_similar(sets, targets, self.constructor.name, params, n_original)
        heldout = np.zeros(0, np.int64)
        if self.heldout:
            fresh = self._with_copies(self.heldout).construct(extended, targets, generator=generator)
            heldout, extended = fresh.similar.copies, fresh.data
        return SimilarBuild(extended, similar_split(split, similar, heldout, len(extended)), similar, heldout)
