"""Model stage: classifiers built from a dataset's metadata."""

from unlearnkit.models.base import Classifier, ModelBuilder, reset_parameters
from unlearnkit.models.registry import MODELS

__all__ = ["MODELS", "Classifier", "ModelBuilder", "reset_parameters"]
