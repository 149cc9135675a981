from __future__ import annotations

import pytest
import torch

from conftest import parameter_digest
from unlearnkit.data import DatasetMeta
from unlearnkit.models import MODELS
from unlearnkit.params import constructor_parameters

METAS = [
    DatasetMeta("gray8", 1, 8, 8, 10, 100, "class"),
    DatasetMeta("gray28", 1, 28, 28, 10, 100, "class"),
    DatasetMeta("faces32", 1, 32, 32, 40, 100, "identity"),
    DatasetMeta("rgb32", 3, 32, 32, 5, 100, "class"),
]


@pytest.mark.parametrize("name", list(MODELS))
@pytest.mark.parametrize("meta", METAS, ids=lambda m: m.name)
def test_builds_for_every_dataset_shape(name, meta) -> None:
    model = MODELS[name]().build(meta, torch.Generator().manual_seed(0))
    x = torch.randn(3, meta.channels, meta.height, meta.width)
    assert model(x).shape == (3, meta.n_classes)
    assert model.features(x).ndim == 2
    assert model.blocks()[-1] is model.head


@pytest.mark.parametrize("name", list(MODELS))
def test_initialisation_comes_from_the_generator(name) -> None:
    meta = METAS[1]
    a = MODELS[name]().build(meta, torch.Generator().manual_seed(1))
    b = MODELS[name]().build(meta, torch.Generator().manual_seed(1))
    c = MODELS[name]().build(meta, torch.Generator().manual_seed(2))
    assert parameter_digest(a) == parameter_digest(b) != parameter_digest(c)


@pytest.mark.parametrize("name", list(MODELS))
def test_model_constraints_match_constructor(name) -> None:
    assert set(MODELS[name].parameter_constraints) == set(constructor_parameters(MODELS[name]))
