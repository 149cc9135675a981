"""Text data: documents with optional labels, their sources, tokenisers and canaries."""

from unlearnkit.data.text.canaries import (
    Canary,
    as_corpus,
    insert_canaries,
    make_canaries,
)
from unlearnkit.data.text.dataset import TextData
from unlearnkit.data.text.registry import TEXT_DATASETS
from unlearnkit.data.text.tokenize import ByteTokenizer, HashedWordTokenizer

__all__ = [
    "TEXT_DATASETS",
    "ByteTokenizer",
    "Canary",
    "HashedWordTokenizer",
    "TextData",
    "as_corpus",
    "insert_canaries",
    "make_canaries",
]
