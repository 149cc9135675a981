"""In-memory text data: documents with optional labels, the text counterpart of ClassificationData."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch


@dataclass(frozen=True, eq=False)
class TextData:
    """Documents, their labels (if any) and groups.

    ``texts`` holds one document per row. ``y`` is int64 (N,) with values in
    ``[0, n_classes)`` for a labelled set (sentiment, topic), or None for an
    unlabelled corpus (language modelling; then ``n_classes`` is 0).
    ``groups`` int64 (N,) names the unit a person may ask to be forgotten
    (a film, a canary and its paraphrases; the class when there is nothing finer).
    ``test_mask`` marks a predefined test set, or is None.
    """

    name: str
    texts: tuple[str, ...]
    y: torch.Tensor | None
    groups: torch.Tensor
    n_classes: int
    group_name: str = "class"
    test_mask: np.ndarray | None = None
    fingerprint: str = field(init=False)

    def __post_init__(self) -> None:
        n = len(self.texts)
        if not all(isinstance(t, str) for t in self.texts):
            raise ValueError(f"{self.name}: texts must all be str")
        if self.groups.shape != (n,) or self.groups.dtype != torch.int64:
            raise ValueError(f"{self.name}: groups must be int64 of shape ({n},); got {self.groups.dtype} {tuple(self.groups.shape)}")
        if self.y is None:
            if self.n_classes != 0:
                raise ValueError(f"{self.name}: an unlabelled corpus (y=None) must have n_classes=0; got {self.n_classes}")
        else:
            if self.y.shape != (n,) or self.y.dtype != torch.int64:
                raise ValueError(f"{self.name}: y must be int64 of shape ({n},); got {self.y.dtype} {tuple(self.y.shape)}")
            if n and (int(self.y.min()) < 0 or int(self.y.max()) >= self.n_classes):
                raise ValueError(f"{self.name}: labels must lie in [0, {self.n_classes})")
        if self.test_mask is not None and self.test_mask.shape != (n,):
            raise ValueError(f"{self.name}: test_mask must have shape ({n},)")
        digest = hashlib.sha256()
        for text in self.texts:
            digest.update(text.encode("utf-8"))
            digest.update(b"\x00")  # separator: ("ab", "c") and ("a", "bc") must differ
        for array in (self.groups.numpy(), None if self.y is None else self.y.numpy(), self.test_mask):
            digest.update(b"|" if array is None else np.ascontiguousarray(array).tobytes())
        object.__setattr__(self, "fingerprint", digest.hexdigest()[:16])

    def __len__(self) -> int:
        return len(self.texts)

    @property
    def labelled(self) -> bool:
        return self.y is not None

    def take(self, indices: np.ndarray | Sequence[int]) -> list[str]:
        return [self.texts[int(i)] for i in indices]

    def with_rows(self, texts: Sequence[str], sources: np.ndarray) -> TextData:
        """This data with ``texts`` appended; row ``i`` of them takes the label and group of row ``sources[i]``."""
        sources = np.asarray(sources, dtype=np.int64)
        if len(texts) != len(sources):
            raise ValueError(f"{len(texts)} new texts but {len(sources)} source rows")
        index = torch.as_tensor(sources)
        y = None if self.y is None else torch.cat([self.y, self.y[index]])
        test_mask = None if self.test_mask is None else np.r_[self.test_mask, np.zeros(len(sources), bool)]
        return TextData(
            self.name,
            (*self.texts, *texts),
            y,
            torch.cat([self.groups, self.groups[index]]),
            self.n_classes,
            self.group_name,
            test_mask,
        )
