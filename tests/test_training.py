from __future__ import annotations

import torch

from conftest import parameter_digest
from unlearnkit.experiment.runner import Runner
from unlearnkit.kinds.classification import ClassificationExperimentConfig
from unlearnkit.methods import METHODS
from unlearnkit.progress import SilentProgress
from unlearnkit.store import SQLiteStore
from unlearnkit.training import TrainSpec, accuracy, train_model


def test_training_learns_within_band(tiny_data, tiny_split, tiny_builder) -> None:
    generator = torch.Generator().manual_seed(0)
    model = tiny_builder.build(tiny_data.meta, generator)
    train = torch.as_tensor(tiny_split.train)
    test = torch.as_tensor(tiny_split.test)
    before = accuracy(model, tiny_data.x[test], tiny_data.y[test])
    log = train_model(model, tiny_data.x[train], tiny_data.y[train], TrainSpec(epochs=25, batch_size=16, lr=0.05), generator)
    after = accuracy(model, tiny_data.x[test], tiny_data.y[test])
    assert log.train_accuracy >= 0.99  # memorises
    assert before < 0.5 and 0.6 <= after <= 1.0


TINY = {
    "name": "tiny",
    "seeds": [0],
    "dataset": {"name": "synthetic", "n_classes": 4, "groups_per_class": 4, "samples_per_group": 10, "size": 8, "noise": 1.0},
    "split": {"test_per_group": 3, "validation_fraction": 0.1},
    "forget": {"name": "groups", "groups": [1]},
    "model": {"name": "cnn", "channels": 4, "hidden": 16},
    "train": {"epochs": 5, "batch_size": 16, "lr": 0.05},
    "methods": [{"name": "retrain"}],
    "metrics": ["forget_acc"],
}


def test_cache_returns_the_model_retrain_would_train(tmp_path) -> None:
    """The runner short-cuts Retrain through the cache; both must give the same model."""
    runner = Runner(SQLiteStore(str(tmp_path / "s.sqlite")))
    plan = runner.plan(0, ClassificationExperimentConfig.model_validate(TINY))
    kind, resolved, prepared = plan.kind, plan.resolved, plan.prepared
    cached = runner.cache.train(kind, resolved, prepared, prepared.split.retain, 11, "retrain")
    original = runner.cache.train(kind, resolved, prepared, prepared.split.train, 3, "original").model
    task = kind.task(resolved, prepared, torch.Generator().manual_seed(11), SilentProgress())
    direct = METHODS["retrain"]().unlearn(original, task).model
    assert parameter_digest(cached.model) == parameter_digest(direct)
    assert cached.seconds > 0
    again = runner.cache.train(kind, resolved, prepared, prepared.split.retain, 11, "retrain")
    assert parameter_digest(again.model) == parameter_digest(cached.model) and again.seconds == cached.seconds
    assert runner.store.model_count() == 2
