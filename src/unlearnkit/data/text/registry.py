"""Registry of text datasets."""

from __future__ import annotations

from unlearnkit.data.text.sources import BbcNews, RottenTomatoes, SyntheticText, TextSource
from unlearnkit.registry import Registry

TEXT_DATASETS: Registry[type[TextSource]] = Registry(
    "text dataset", {"rotten_tomatoes": RottenTomatoes, "bbc_news": BbcNews, "synthetic_text": SyntheticText}
)
