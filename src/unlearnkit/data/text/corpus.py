"""A language-modelling corpus with inserted canaries: the data of ``kind = "language_model"`` experiments.

The corpus is a text dataset without its labels (:func:`~unlearnkit.data.text.canaries.as_corpus`).
:class:`InsertCanaries` appends question-answer canaries: ``count`` of them
are trained on and form the forget set (the deletion request names them),
``heldout`` more are never trained on (non-members of the same format, for
membership attacks and the held-out forget split). :class:`CorpusSplitSpec`
carves validation and test documents out of the corpus (canaries are never
among them). Documents are tokenised by bytes, each starting with the
document-start id, so training on a subset of rows is retraining without the
others.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import torch

from unlearnkit.data.selectors import take_random
from unlearnkit.data.splits import Split
from unlearnkit.data.text.canaries import Canary, insert_canaries, make_canaries
from unlearnkit.data.text.dataset import TextData
from unlearnkit.data.text.tokenize import ByteTokenizer
from unlearnkit.errors import InvalidParameterError
from unlearnkit.params import Configurable, Interval, NoneOr

MAX_CANARIES = 400  # distinct made-up names available (canaries.FIRST_NAMES x LAST_NAMES)


@dataclass(frozen=True, eq=False)
class Corpus:
    """Documents (text and byte ids) and the canaries among them (row -> canary)."""

    text: TextData
    documents: tuple[torch.Tensor, ...]
    canaries: Mapping[int, Canary]
    fingerprint: str = field(init=False)

    def __post_init__(self) -> None:
        if len(self.documents) != len(self.text):
            raise ValueError(f"{len(self.documents)} token sequences for {len(self.text)} documents")
        object.__setattr__(self, "fingerprint", self.text.fingerprint)

    @classmethod
    def tokenise(cls, text: TextData, canaries: Mapping[int, Canary]) -> Corpus:
        tokenizer = ByteTokenizer()
        return cls(text, tuple(tokenizer.encode(t, bos=True) for t in text.texts), dict(canaries))

    def __len__(self) -> int:
        return len(self.text)

    @property
    def meta(self) -> int:
        """What a language-model builder needs: the vocabulary size (bytes)."""
        return ByteTokenizer.vocab_size

    def take(self, rows: np.ndarray | Sequence[int]) -> list[torch.Tensor]:
        return [self.documents[int(i)] for i in rows]

    def canaries_of(self, rows: np.ndarray) -> list[Canary]:
        """The canary of each row (every row must hold one)."""
        missing = [int(r) for r in rows if int(r) not in self.canaries]
        if missing:
            raise InvalidParameterError(f"rows {missing[:5]} hold no canary")
        return [self.canaries[int(r)] for r in rows]


@dataclass(frozen=True, eq=False)
class CanaryInsertion:
    text: TextData
    forget: np.ndarray  # trained canaries: the forget set
    heldout: np.ndarray  # canaries never trained on
    canaries: dict[int, Canary]


class InsertCanaries(Configurable):
    """Append ``count`` canaries to forget (trained on) and ``heldout`` never-trained ones, ``digits``-digit secrets.

    Names are distinct across all of them; secrets are drawn uniformly by the
    generator the split recipe is seeded with.
    """

    description: ClassVar[str] = "insert question-answer canaries ('the secret code of NAME is DIGITS') and forget them"
    defines_distribution: ClassVar[bool] = False
    parameter_constraints = {
        "count": Interval(int, 1, MAX_CANARIES),
        "heldout": Interval(int, 0, MAX_CANARIES),
        "digits": Interval(int, 1, 9),
    }

    def __init__(self, *, count: int = 10, heldout: int = 0, digits: int = 6) -> None:
        self.count = count
        self.heldout = heldout
        self.digits = digits

    @classmethod
    def combination_problems(cls, params: Mapping[str, Any]) -> list[str]:
        if params["count"] + params["heldout"] > MAX_CANARIES:
            return [f"count + heldout must be at most {MAX_CANARIES} (distinct names available); got {params['count'] + params['heldout']}"]
        return []

    def insert(self, corpus: TextData, generator: torch.Generator) -> CanaryInsertion:
        self.validate_params()
        canaries = make_canaries(self.count + self.heldout, generator, self.digits)
        text, rows = insert_canaries(corpus, canaries)
        return CanaryInsertion(text, rows[: self.count], rows[self.count :], dict(zip(rows.tolist(), canaries, strict=True)))


class CorpusSplitSpec(Configurable):
    """Validation and test documents drawn at random from the corpus (never a canary); the rest is the training pool.

    ``train_size`` subsamples the pool (a smaller corpus trains faster); the
    forget canaries are always trained on. ``seed`` fixes the split, the
    canaries and their secrets; model seeds vary separately.
    """

    description: ClassVar[str] = "seeded random validation / test documents; canaries always trained (forget) or held out"
    parameter_constraints = {
        "validation_fraction": Interval(float, 0.0, 1.0, "neither"),
        "test_fraction": Interval(float, 0.0, 1.0, "neither"),
        "train_size": NoneOr(Interval(int, 1, None)),
        "seed": Interval(int, 0, None),
    }

    def __init__(
        self, *, validation_fraction: float = 0.05, test_fraction: float = 0.1, train_size: int | None = None, seed: int = 0
    ) -> None:
        self.validation_fraction = validation_fraction
        self.test_fraction = test_fraction
        self.train_size = train_size
        self.seed = seed

    @classmethod
    def combination_problems(cls, params: Mapping[str, Any]) -> list[str]:
        if params["validation_fraction"] + params["test_fraction"] >= 1.0:
            return ["validation_fraction + test_fraction must be below 1"]
        return []

    def build(self, n_documents: int, inserted: CanaryInsertion, generator: torch.Generator) -> Split:
        """The split of the first ``n_documents`` rows (the corpus) plus the inserted canaries."""
        self.validate_params()
        pool = np.arange(n_documents)
        n_test = max(1, round(self.test_fraction * n_documents))
        n_validation = max(1, round(self.validation_fraction * n_documents))
        if n_test + n_validation >= n_documents:
            raise InvalidParameterError(
                f"a corpus of {n_documents} documents leaves none to train on after {n_test} test and {n_validation} validation"
            )
        test = take_random(pool, n_test, generator)
        pool = np.setdiff1d(pool, test)
        validation = take_random(pool, n_validation, generator)
        pool = np.setdiff1d(pool, validation)
        if self.train_size is not None and self.train_size < len(pool):
            pool = take_random(pool, self.train_size, generator)
        heldout = inserted.heldout if inserted.heldout.size else None
        train = np.union1d(pool, inserted.forget)
        return Split(len(inserted.text), train, inserted.forget, validation, test, heldout, inserted.forget)

    def describe(self) -> dict[str, Any]:
        return self.get_params()
