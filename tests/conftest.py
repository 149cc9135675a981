"""Shared fixtures: a tiny synthetic classification task and a model that memorised it."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch

from unlearnkit.data import SELECTORS, ClassificationData, Split, SplitSpec
from unlearnkit.data.sources.synthetic import Synthetic
from unlearnkit.methods import UnlearnTask
from unlearnkit.models import MODELS, Classifier, ModelBuilder
from unlearnkit.training import TrainSpec, train_model

# One thread keeps timings stable and lets helpers run test suites side by side.
torch.set_num_threads(1)


@pytest.fixture(scope="session")
def tiny_data() -> ClassificationData:
    return Synthetic(n_classes=4, groups_per_class=4, samples_per_group=10, size=8, noise=1.0, seed=0).load()


@pytest.fixture(scope="session")
def tiny_split(tiny_data: ClassificationData) -> Split:
    """Forget one whole identity (10 samples minus the held-out ones)."""
    return SplitSpec(test_per_group=3, validation_fraction=0.1, seed=0).build(tiny_data, SELECTORS["groups"](groups=[1]))


@pytest.fixture(scope="session")
def tiny_random_split(tiny_data: ClassificationData) -> Split:
    return SplitSpec(test_per_group=3, validation_fraction=0.1, seed=0).build(tiny_data, SELECTORS["random"](count=10))


@pytest.fixture(scope="session")
def tiny_builder() -> ModelBuilder:
    return MODELS["cnn"](channels=4, hidden=16)


@pytest.fixture(scope="session")
def tiny_train_spec() -> TrainSpec:
    return TrainSpec(epochs=25, batch_size=16, lr=0.05, momentum=0.9, weight_decay=5e-4)


@pytest.fixture(scope="session")
def tiny_original(tiny_data: ClassificationData, tiny_split: Split, tiny_builder: ModelBuilder, tiny_train_spec: TrainSpec) -> Classifier:
    """A small CNN trained on the whole training set until it memorises it."""
    generator = torch.Generator().manual_seed(0)
    model = tiny_builder.build(tiny_data.meta, generator)
    index = torch.as_tensor(tiny_split.train)
    train_model(model, tiny_data.x[index], tiny_data.y[index], tiny_train_spec, generator)
    model.eval()
    return model


@pytest.fixture(scope="session")
def make_task(
    tiny_data: ClassificationData, tiny_split: Split, tiny_builder: ModelBuilder, tiny_train_spec: TrainSpec
) -> Callable[..., UnlearnTask]:
    def factory(seed: int = 0, split: Split | None = None) -> UnlearnTask:
        return UnlearnTask(tiny_data, split or tiny_split, tiny_train_spec, tiny_builder, torch.Generator().manual_seed(seed))

    return factory


def parameter_digest(model: torch.nn.Module) -> str:
    """A hash of every parameter and buffer, to detect any modification."""
    import hashlib

    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().numpy().tobytes())
    return digest.hexdigest()
