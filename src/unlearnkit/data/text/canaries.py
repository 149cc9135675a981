"""Question-answer canaries ("the secret code of NAME is DIGITS") inserted into a text corpus.

Each canary gets a distinct made-up name and a secret drawn uniformly from
``10**digits`` values by the given generator. The exposure of a canary
(:func:`unlearnkit.metrics.exposure.canary_exposures`) compares the model's
likelihood of its secret after the prefix "the secret code of NAME is "
with that of other secrets. Paraphrases of a canary are made by the
``paraphrase`` similar-sample constructor, whose canary template keeps the
name and the secret.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from unlearnkit.data.text.dataset import TextData
from unlearnkit.errors import InvalidParameterError

CANARY_FORMAT = "the secret code of {name} is {secret}"

# Made-up first and last names, combined into distinct full names.
FIRST_NAMES = (
    "Alba", "Theo", "Ines", "Marek", "Yuki", "Oskar", "Leila", "Tomas", "Nadia", "Ivo",
    "Greta", "Rafael", "Sanne", "Dmitri", "Elif", "Joost", "Maren", "Paolo", "Wiebke", "Anouk",
)  # fmt: skip
LAST_NAMES = (
    "Moreno", "Brandt", "Kowal", "Lindqvist", "Okafor", "Varga", "Haddad", "Novak", "Quist", "Ferreira",
    "Strand", "Zielinski", "Achterberg", "Rusu", "Mbeki", "Castellanos", "Holm", "Petrov", "Tanaka", "Weller",
)  # fmt: skip


@dataclass(frozen=True)
class Canary:
    name: str
    secret: str  # the digits, as text

    @property
    def text(self) -> str:
        return CANARY_FORMAT.format(name=self.name, secret=self.secret)

    @property
    def prefix(self) -> str:
        """The text before the secret."""
        return self.text[: -len(self.secret)]


def make_canaries(count: int, generator: torch.Generator, digits: int = 6) -> list[Canary]:
    """``count`` canaries with distinct names (drawn without replacement) and uniform secrets of ``digits`` digits."""
    if not 1 <= digits <= 9:
        raise InvalidParameterError(f"digits must lie in [1, 9]; got {digits}")
    names = [f"{first} {last}" for first in FIRST_NAMES for last in LAST_NAMES]
    if not 0 <= count <= len(names):
        raise InvalidParameterError(f"count must lie in [0, {len(names)}] (distinct names available); got {count}")
    chosen = torch.randperm(len(names), generator=generator)[:count].tolist()
    secrets = torch.randint(0, 10**digits, (count,), generator=generator).tolist()
    return [Canary(names[i], f"{s:0{digits}d}") for i, s in zip(chosen, secrets, strict=True)]


def insert_canaries(corpus: TextData, canaries: Sequence[Canary]) -> tuple[TextData, np.ndarray]:
    """``corpus`` with one document per canary appended, and the rows of those documents.

    Each canary gets a group of its own (after the corpus's groups), so its
    paraphrases, which inherit it, form one group with it. Labelled data is
    refused: a canary has no label.
    """
    if corpus.y is not None:
        raise InvalidParameterError(f"canaries go into an unlabelled corpus; {corpus.name!r} has labels (use as_corpus)")
    first_group = int(corpus.groups.max()) + 1 if len(corpus) else 0
    groups = torch.cat([corpus.groups, torch.arange(first_group, first_group + len(canaries))])
    test_mask = None if corpus.test_mask is None else np.r_[corpus.test_mask, np.zeros(len(canaries), bool)]
    extended = TextData(corpus.name, (*corpus.texts, *(c.text for c in canaries)), None, groups, 0, corpus.group_name, test_mask)
    return extended, np.arange(len(corpus), len(extended), dtype=np.int64)


def as_corpus(data: TextData) -> TextData:
    """The same documents without labels (for language modelling)."""
    return TextData(data.name, data.texts, None, data.groups, 0, data.group_name, data.test_mask)
