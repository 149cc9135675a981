"""Train / retain / forget / validation / test index sets, validated when built."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from unlearnkit.errors import SplitError


def _as_index_array(values: np.ndarray | list[int], name: str) -> np.ndarray:
    array = np.asarray(values)
    if array.size == 0:
        return np.zeros(0, dtype=np.int64)
    if array.ndim != 1 or not np.issubdtype(array.dtype, np.integer):
        raise SplitError(f"{name} must be a 1-D array of integer indices; got dtype {array.dtype}, shape {array.shape}")
    return np.sort(array.astype(np.int64))


@dataclass(frozen=True, eq=False)
class Split:
    """Index sets over one dataset of ``n_samples`` samples.

    ``heldout_forget`` holds samples of the forget *distribution* (same class,
    identity or group as the forget set) that were never trained on; it exists
    only when the forget selector defines a distribution, and only evaluation
    reads it. ``heldout_forget_validation`` holds the never-trained samples of
    that distribution carved from the validation pool: what model *selection*
    may read about the forget distribution (oracle-free tuning compares the
    forget set with them), kept apart so that selection never reads what is
    evaluated. ``forget_distribution`` holds every *training* sample of that
    distribution (a superset of ``forget``): retraining without it is the
    reference of the "unlearning" goal.
    """

    n_samples: int
    train: np.ndarray
    forget: np.ndarray
    validation: np.ndarray
    test: np.ndarray
    heldout_forget: np.ndarray | None = None
    forget_distribution: np.ndarray | None = None
    heldout_forget_validation: np.ndarray | None = None

    def __post_init__(self) -> None:
        for name in ("train", "forget", "validation", "test", "heldout_forget", "forget_distribution", "heldout_forget_validation"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, _as_index_array(value, name))
        problems = self._problems()
        if problems:
            raise SplitError("invalid split: " + "; ".join(problems))

    @property
    def retain(self) -> np.ndarray:
        return np.setdiff1d(self.train, self.forget, assume_unique=True)

    def _problems(self) -> list[str]:
        problems = []
        named = {
            "train": self.train,
            "forget": self.forget,
            "validation": self.validation,
            "test": self.test,
        }
        if self.heldout_forget is not None:
            named["heldout_forget"] = self.heldout_forget
        if self.forget_distribution is not None:
            named["forget_distribution"] = self.forget_distribution
        if self.heldout_forget_validation is not None:
            named["heldout_forget_validation"] = self.heldout_forget_validation
        for name, idx in named.items():
            out = int(((idx < 0) | (idx >= self.n_samples)).sum())
            if out:
                problems.append(f"{out} {name} indices outside [0, {self.n_samples})")
            dup = int(idx.size - np.unique(idx).size)
            if dup:
                problems.append(f"{dup} duplicate {name} indices")
        missing = int(np.setdiff1d(self.forget, self.train).size)
        if missing:
            problems.append(f"{missing} forget indices are not in train (forget must be a subset of train)")
        for other in ("validation", "test", "heldout_forget", "heldout_forget_validation"):
            if other in named:
                overlap = int(np.intersect1d(self.train, named[other]).size)
                if overlap:
                    problems.append(f"{overlap} indices are in both train and {other}")
        unseen = [("heldout_forget", "test"), ("heldout_forget_validation", "test"), ("heldout_forget_validation", "heldout_forget"),
                  ("heldout_forget_validation", "validation")]
        for first, second in unseen:
            if first in named and second in named:
                overlap = int(np.intersect1d(named[first], named[second]).size)
                if overlap:
                    problems.append(f"{overlap} indices are in both {first} and {second}")
        if self.forget_distribution is not None:
            if np.setdiff1d(self.forget, self.forget_distribution).size:
                problems.append("forget_distribution must contain every forget index")
            if np.setdiff1d(self.forget_distribution, self.train).size:
                problems.append("forget_distribution must be a subset of train")
        if self.train.size and self.train.size == self.forget.size:
            problems.append("the forget set holds every training sample; nothing would be retained")
        return problems

    def with_forget(self, forget: np.ndarray) -> Split:
        """The same split with another forget set (e.g. the whole forget distribution)."""
        return Split(
            self.n_samples, self.train, forget, self.validation, self.test, self.heldout_forget, self.forget_distribution,
            self.heldout_forget_validation,
        )

    def describe(self) -> dict[str, int]:
        sizes = {
            "train": int(self.train.size),
            "retain": int(self.retain.size),
            "forget": int(self.forget.size),
            "validation": int(self.validation.size),
            "test": int(self.test.size),
        }
        if self.heldout_forget is not None:
            sizes["heldout_forget"] = int(self.heldout_forget.size)
        if self.heldout_forget_validation is not None:
            sizes["heldout_forget_validation"] = int(self.heldout_forget_validation.size)
        return sizes
