"""Text data: documents with optional labels, their sources and tokenisers."""

from unlearnkit.data.text.dataset import TextData

__all__ = ["TextData"]
