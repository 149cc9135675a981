"""Offline paraphrases of text targets: template rewrites, clause reordering, synonym substitution."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from rapidfuzz.distance import Levenshtein
from torch import nn

from unlearnkit.data.similar.base import Construction, SimilarConstructor, SimilarSet
from unlearnkit.data.similar.paraphrase_rules import (
    CLAUSE_SEPARATORS,
    SYNONYMS,
    TEMPLATE_RULES,
    WORD,
)
from unlearnkit.errors import InvalidParameterError
from unlearnkit.params import Interval


def _choice(options: tuple[str, ...] | list[str], generator: torch.Generator) -> str:
    return options[int(torch.randint(len(options), (), generator=generator))]


def _coin(probability: float, generator: torch.Generator) -> bool:
    return float(torch.rand((), generator=generator)) < probability


def edit_distance(a: str, b: str) -> float:
    """Normalised Levenshtein distance: character edits / max(len(a), len(b)), in [0, 1] (RapidFuzz)."""
    return float(Levenshtein.normalized_distance(a, b))


def rewrite_template(text: str, generator: torch.Generator) -> str:
    """``text`` rewritten by a random rewrite of the first matching template rule (unchanged if none matches)."""
    for rule in TEMPLATE_RULES:
        match = rule.pattern.match(text)
        if match:
            return _choice(rule.rewrites, generator).format(**match.groupdict())
    return text


def reorder_clauses(text: str, generator: torch.Generator) -> str:
    """The clauses of ``text`` in a random different order; separators stay where they were."""
    parts = CLAUSE_SEPARATORS.split(text)
    clauses, separators = parts[0::2], parts[1::2]
    if len(clauses) < 2:
        return text
    order = torch.randperm(len(clauses), generator=generator).tolist()
    if order == sorted(order):  # identity: rotate by one so the order changes
        order = order[1:] + order[:1]
    moved = [clauses[i] for i in order]
    return "".join(c + s for c, s in zip(moved, [*separators, ""], strict=True))


def substitute_synonyms(text: str, rate: float, generator: torch.Generator) -> str:
    """Each word listed in the synonym table replaced, with probability ``rate``, by a random alternative."""

    def swap(match: re.Match[str]) -> str:
        word = match.group(0)
        options = SYNONYMS.get(word.lower())
        if options is None or not _coin(rate, generator):
            return word
        replacement = _choice(options, generator)
        return replacement.capitalize() if word[0].isupper() else replacement

    return WORD.sub(swap, text)


class Paraphrase(SimilarConstructor):
    """``copies`` offline paraphrases of each text target.

    Per copy: with probability ``template_rate`` a template rewrite (the
    first matching rule of :mod:`~unlearnkit.data.similar.paraphrase_rules`:
    canary sentences keep their name and digits; other text gets a framing
    phrase); with probability ``reorder_rate`` its clauses in another order;
    then each word of the synonym table swapped with probability
    ``synonym_rate``. The result is graded by its normalised edit distance
    to the target (:func:`edit_distance`) and redrawn, up to ``attempts``
    times, until it lies in ``[min_distance, max_distance]``; a target with
    no paraphrase in the band is an error. The record's score is
    ``1 - edit_distance``.
    """

    name = "paraphrase"
    description = "offline paraphrases (templates, clause reordering, synonyms) graded by edit distance"
    modalities = frozenset({"text"})
    appends = True
    parameter_constraints = {
        "copies": Interval(int, 0, None),
        "template_rate": Interval(float, 0.0, 1.0),
        "reorder_rate": Interval(float, 0.0, 1.0),
        "synonym_rate": Interval(float, 0.0, 1.0),
        "min_distance": Interval(float, 0.0, 1.0),
        "max_distance": Interval(float, 0.0, 1.0),
        "attempts": Interval(int, 1, 100_000),
    }

    def __init__(
        self,
        *,
        copies: int = 5,
        template_rate: float = 1.0,
        reorder_rate: float = 0.5,
        synonym_rate: float = 0.3,
        min_distance: float = 0.0,
        max_distance: float = 1.0,
        attempts: int = 200,
    ) -> None:
        self.copies = copies
        self.template_rate = template_rate
        self.reorder_rate = reorder_rate
        self.synonym_rate = synonym_rate
        self.min_distance = min_distance
        self.max_distance = max_distance
        self.attempts = attempts

    @classmethod
    def combination_problems(cls, params: Mapping[str, Any]) -> list[str]:
        if params["min_distance"] > params["max_distance"]:
            return [f"min_distance ({params['min_distance']}) must not exceed max_distance ({params['max_distance']})"]
        return []

    def paraphrase(self, text: str, generator: torch.Generator) -> str:
        """One draw, before grading."""
        if _coin(self.template_rate, generator):
            text = rewrite_template(text, generator)
        if _coin(self.reorder_rate, generator):
            text = reorder_clauses(text, generator)
        return substitute_synonyms(text, self.synonym_rate, generator)

    def graded_paraphrase(self, text: str, generator: torch.Generator, where: str) -> tuple[str, float]:
        """A paraphrase whose edit distance to ``text`` lies in the band, and that distance."""
        for _ in range(self.attempts):
            candidate = self.paraphrase(text, generator)
            distance = edit_distance(candidate, text)
            if self.min_distance <= distance <= self.max_distance:
                return candidate, distance
        raise InvalidParameterError(
            f"paraphrase: no paraphrase of {where} within edit distance [{self.min_distance}, {self.max_distance}] "
            f"after {self.attempts} draws; widen the band or raise the rates"
        )

    def _construct(
        self, data: Any, targets: np.ndarray, pool: np.ndarray, generator: torch.Generator, model: nn.Module | None
    ) -> Construction[Any]:
        target_of = np.repeat(targets, self.copies).astype(np.int64)
        rows = np.arange(len(data), len(data) + target_of.size, dtype=np.int64)
        texts, distances = [], []
        for target in target_of:
            text, distance = self.graded_paraphrase(data.texts[target], generator, f"row {int(target)}")
            texts.append(text)
            distances.append(distance)
        similar = SimilarSet(self.name, self.get_params(), len(data), targets, rows, target_of, 1.0 - np.asarray(distances, np.float64))
        return Construction(data.with_rows(texts, target_of), similar)
