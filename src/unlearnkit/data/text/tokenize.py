"""Tokenisers for text models: bytes (language models) and hashed word n-grams (classifiers).

Both are fixed functions of the text (no fitted vocabulary), so a model
retrained without some documents sees exactly the same token ids.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Sequence

import torch

from unlearnkit.errors import InvalidParameterError
from unlearnkit.params import Configurable, Interval


class ByteTokenizer:
    """UTF-8 bytes as tokens (vocabulary 256); byte 0, absent from text, marks a document's start."""

    vocab_size = 256
    bos = 0

    def encode(self, text: str, *, bos: bool = False) -> torch.Tensor:
        """int64 ids of ``text``'s UTF-8 bytes, after the start marker when ``bos``."""
        data = text.encode("utf-8")
        if b"\x00" in data:
            raise InvalidParameterError("text holds a NUL byte, which the byte tokenizer reserves as the document start")
        ids = torch.frombuffer(bytearray(data), dtype=torch.uint8).long() if data else torch.zeros(0, dtype=torch.long)
        return torch.cat([torch.tensor([self.bos]), ids]) if bos else ids

    def decode(self, ids: torch.Tensor | Sequence[int]) -> str:
        values = [int(i) for i in ids if int(i) != self.bos]
        return bytes(values).decode("utf-8", errors="replace")


WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")


class HashedWordTokenizer(Configurable):
    """Lower-cased words and word n-grams hashed (CRC-32) into ``buckets`` ids; 0 is padding.

    The fastText hashing trick: no vocabulary to fit, collisions are rare
    for ``buckets`` much larger than the distinct n-grams in use. A document
    gives its words, then its bigrams (up to ``ngrams``), truncated to
    ``max_len`` ids and right-padded with 0.
    """

    parameter_constraints = {
        "buckets": Interval(int, 2, 10_000_000),
        "ngrams": Interval(int, 1, 3),
        "max_len": Interval(int, 1, 100_000),
    }

    def __init__(self, *, buckets: int = 2**16, ngrams: int = 2, max_len: int = 256) -> None:
        self.buckets = buckets
        self.ngrams = ngrams
        self.max_len = max_len

    @property
    def vocab_size(self) -> int:
        return self.buckets

    def ids(self, text: str) -> list[int]:
        words = WORD.findall(text.lower())
        grams = [" ".join(words[i : i + n]) for n in range(1, self.ngrams + 1) for i in range(len(words) - n + 1)]
        return [1 + zlib.crc32(g.encode("utf-8")) % (self.buckets - 1) for g in grams][: self.max_len]

    def encode_batch(self, texts: Sequence[str]) -> torch.Tensor:
        """(len(texts), max_len) int64 ids, 0-padded."""
        self.validate_params()
        out = torch.zeros(len(texts), self.max_len, dtype=torch.long)
        for row, text in enumerate(texts):
            ids = self.ids(text)
            out[row, : len(ids)] = torch.tensor(ids, dtype=torch.long)
        return out
