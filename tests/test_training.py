from __future__ import annotations

import torch

from conftest import parameter_digest
from unlearnkit.experiment.runner import ModelCache
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


def test_cache_returns_the_model_retrain_would_train(tmp_path, tiny_data, tiny_split, tiny_builder, tiny_train_spec, tiny_original, make_task) -> None:
    """The runner short-cuts Retrain through the cache; both must give the same model."""
    cache = ModelCache(SQLiteStore(str(tmp_path / "s.sqlite")))
    cached, seconds = cache.train("retrain", tiny_data, tiny_split.retain, tiny_builder, tiny_train_spec, 11, SilentProgress())
    direct = METHODS["retrain"]().unlearn(tiny_original, make_task(seed=11)).model
    assert parameter_digest(cached) == parameter_digest(direct)
    assert seconds > 0
    again, seconds_again = cache.train("retrain", tiny_data, tiny_split.retain, tiny_builder, tiny_train_spec, 11, SilentProgress())
    assert parameter_digest(again) == parameter_digest(cached) and seconds_again == seconds
    assert cache.store.model_count() == 1
