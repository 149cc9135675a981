"""The normalised graph, propagation, and MF/LightGCN training."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from recsys_support import TINY_SPEC, builder, tiny_interactions
from unlearnkit.models.recsys import normalized_adjacency, propagate
from unlearnkit.models.recsys.embedding import all_scores
from unlearnkit.training.recsys import fit_recommender, rows_auc


def dense_adjacency(users: list[int], items: list[int], n_users: int, n_items: int) -> torch.Tensor:
    n = n_users + n_items
    a = torch.zeros(n, n, dtype=torch.float64)
    for u, i in zip(users, items, strict=True):
        a[u, n_users + i] = a[n_users + i, u] = 1.0
    degree = a.sum(1)
    inv = torch.where(degree > 0, degree.rsqrt(), torch.zeros_like(degree))
    return inv[:, None] * a * inv[None, :]


def test_sparse_adjacency_matches_dense() -> None:
    # A repeated pair counts once; user 3 and item 2 are isolated.
    users, items = [0, 0, 1, 2, 2, 0], [0, 1, 1, 0, 3, 0]
    sparse = normalized_adjacency(np.array(users), np.array(items), n_users=4, n_items=4)
    assert sparse.layout == torch.sparse_coo
    expected = dense_adjacency(users, items, 4, 4)
    assert torch.allclose(sparse.to_dense().double(), expected, atol=1e-6)
    assert torch.allclose(expected[0, 4], torch.tensor(1 / np.sqrt(2 * 2), dtype=torch.float64))


def test_propagation_is_the_mean_of_powers() -> None:
    graph = normalized_adjacency(np.array([0, 1, 1, 2]), np.array([0, 0, 1, 1]), 3, 2)
    x = torch.randn(5, 3, generator=torch.Generator().manual_seed(0))
    dense = graph.to_dense()
    expected = (x + dense @ x + dense @ dense @ x) / 3
    assert torch.allclose(propagate(x, graph, 2), expected, atol=1e-6)
    assert propagate(x, None, 0) is x
    with pytest.raises(ValueError, match="needs a graph"):
        propagate(x, None, 1)


@pytest.mark.parametrize("kind", ["mf", "lightgcn"])
def test_models_learn_on_tiny_data(kind: str) -> None:
    data, split = tiny_interactions()
    generator = torch.Generator().manual_seed(1)
    model = builder(kind).build(data.meta, generator)
    model.condition_on(data, split.train)
    untrained = rows_auc(model, data, split.test)
    log = fit_recommender(model, data, split.train, TINY_SPEC, generator, validation_rows=split.validation)
    trained = rows_auc(model, data, split.test)
    assert 0.35 < untrained < 0.65
    assert 0.65 < trained < 0.97, trained
    # the best checkpoint is the one returned, and every epoch that ran was timed
    assert rows_auc(model, data, split.validation) == pytest.approx(log.best_validation_auc)
    assert log.epochs_run == len(log.epoch_seconds) == len(log.validation_aucs)
    assert log.best_epoch <= log.epochs_run <= log.best_epoch + TINY_SPEC.patience
    matrix = all_scores(model, torch.tensor([0, 3]))
    assert torch.allclose(matrix[1, 5], model.score(torch.tensor([3]), torch.tensor([5]))[0].detach(), atol=1e-6)


def test_training_is_deterministic_per_seed() -> None:
    data, split = tiny_interactions()
    models = []
    for _ in range(2):
        generator = torch.Generator().manual_seed(7)
        model = builder("lightgcn").build(data.meta, generator)
        fit_recommender(model, data, split.train, TINY_SPEC, generator, validation_rows=split.validation)
        models.append(model)
    assert torch.equal(models[0].user_embedding, models[1].user_embedding)
    assert torch.equal(models[0].item_embedding, models[1].item_embedding)


def test_graph_survives_deep_copy_and_stays_out_of_the_state_dict() -> None:
    data, split = tiny_interactions()
    model = builder("lightgcn").build(data.meta, torch.Generator().manual_seed(0))
    model.condition_on(data, split.train)
    clone = copy.deepcopy(model)
    assert set(model.state_dict()) == {"user_embedding", "item_embedding"}
    assert torch.equal(clone.graph.to_dense(), model.graph.to_dense())
    assert clone.graph is not model.graph
