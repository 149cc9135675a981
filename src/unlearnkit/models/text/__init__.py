"""Small text models: a bag-of-embeddings classifier and a nanoGPT-style causal language model."""

from unlearnkit.models.text.bag_of_embeddings import BagOfEmbeddings, MeanEmbedding
from unlearnkit.models.text.gpt import CausalLM, TinyGPT
from unlearnkit.models.text.registry import LANGUAGE_MODELS, TEXT_CLASSIFIERS

__all__ = ["LANGUAGE_MODELS", "TEXT_CLASSIFIERS", "BagOfEmbeddings", "CausalLM", "MeanEmbedding", "TinyGPT"]
