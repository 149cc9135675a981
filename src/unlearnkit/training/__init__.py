"""Training: the shared recipe, the loop, and the content-addressed model cache."""

from unlearnkit.training.loop import (
    TrainLog,
    TrainSpec,
    accuracy,
    minibatches,
    predict_features,
    predict_logits,
    train_model,
)

__all__ = ["TrainLog", "TrainSpec", "accuracy", "minibatches", "predict_features", "predict_logits", "train_model"]
