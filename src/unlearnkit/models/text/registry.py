"""Registries of text models: classifiers and causal language models."""

from __future__ import annotations

from unlearnkit.models.text.bag_of_embeddings import BagOfEmbeddings
from unlearnkit.models.text.gpt import TinyGPT
from unlearnkit.registry import Registry

TEXT_CLASSIFIERS: Registry[type[BagOfEmbeddings]] = Registry("text classifier", {"bag_of_embeddings": BagOfEmbeddings})
LANGUAGE_MODELS: Registry[type[TinyGPT]] = Registry("language model", {"tiny_gpt": TinyGPT})
