"""``unlearnkit.unlearn`` on a recommender trained here: interaction rows or users, recipes, bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import unlearnkit
from unlearnkit.data.recsys.interactions import InteractionData
from unlearnkit.errors import InvalidParameterError, MissingRecipeError
from unlearnkit.models.recsys.embedding import Recommender
from unlearnkit.testing import parameter_digest
from unlearnkit.training.recsys import RecTrainSpec, fit_recommender

N_USERS, N_ITEMS = 30, 25
RECIPE = RecTrainSpec(epochs=30, batch_size=64, lr=0.05, l2=1e-3, patience=None)


def interactions(seed: int, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    p, q = rng.normal(size=(N_USERS, 3)), rng.normal(size=(N_ITEMS, 3))
    user, item = rng.integers(0, N_USERS, n), rng.integers(0, N_ITEMS, n)
    label = (np.einsum("nd,nd->n", p[user], q[item]) > 0).astype(np.int64)
    return user, item, label


@pytest.fixture(scope="module")
def setting() -> tuple[Recommender, tuple[np.ndarray, ...], tuple[np.ndarray, ...]]:
    train, validation = interactions(0, 500), interactions(1, 120)
    model = Recommender(N_USERS, N_ITEMS, dim=8, layers=1)  # a LightGCN-like model built by hand
    with torch.no_grad():
        model.user_embedding.normal_(0, 0.1, generator=torch.Generator().manual_seed(0))
        model.item_embedding.normal_(0, 0.1, generator=torch.Generator().manual_seed(1))
    data = InteractionData("mine", *train, N_USERS, N_ITEMS)
    fit_recommender(model, data, np.arange(500), RECIPE, torch.Generator().manual_seed(0))
    return model, train, validation


def test_ifru_on_rows_and_retraining_on_users(setting) -> None:
    model, train, validation = setting
    digest = parameter_digest(model)
    rows = unlearnkit.unlearn(model, train, [0, 5, 9], method="ifru", validation=validation, recipe=RECIPE)
    assert parameter_digest(model) == digest and isinstance(rows.model, Recommender)
    assert rows.kind == "recommendation" and rows.forget_count == 3
    assert set(rows.metrics["after"]) >= {"forget_accuracy", "retain_accuracy", "validation_accuracy", "mia_auc"}
    user = int(train[0][0])
    users = unlearnkit.unlearn(model, train, [user], forget_unit="users", method="retrain_rec", validation=validation, recipe=RECIPE)
    assert users.forget_count == int((train[0] == user).sum())
    # retrained without the user's rows: their loss rises from what the original fitted
    assert users.metrics["after"]["forget_loss"] > users.metrics["before"]["forget_loss"]


def test_recommender_bad_inputs(setting) -> None:
    model, train, validation = setting
    with pytest.raises(MissingRecipeError, match=r"'ifru' reads the training recipe \('l2'\)"):
        unlearnkit.unlearn(model, train, [0], method="ifru", validation=validation)
    with pytest.raises(InvalidParameterError, match="'sisa' unlearns from an original of its own"):
        unlearnkit.unlearn(model, train, [0], method="sisa", recipe=RECIPE)
    with pytest.raises(InvalidParameterError, match=r"'scrub' is a method for \['classification', 'text_classification'\]"):
        unlearnkit.unlearn(model, train, [0], method="scrub")
    bad_user = (np.array([0, N_USERS]), np.array([1, 2]), np.array([0, 1]))
    with pytest.raises(InvalidParameterError, match=rf"user ids \[{N_USERS}\] are outside the model's {N_USERS} user embeddings"):
        unlearnkit.unlearn(model, bad_user, [0], method="finetune_rec", recipe=RECIPE)
    with pytest.raises(InvalidParameterError, match="labels must be 0 or 1"):
        unlearnkit.unlearn(model, (train[0], train[1], train[2] + 1), [0], method="finetune_rec", recipe=RECIPE)
    with pytest.raises(InvalidParameterError, match=r"user, item and label have different lengths"):
        unlearnkit.unlearn(model, (train[0], train[1][:-1], train[2]), [0], method="finetune_rec", recipe=RECIPE)
    with pytest.raises(InvalidParameterError, match=r"forget_ids: 1 user id\(s\) out of range"):
        unlearnkit.unlearn(model, train, [N_USERS], forget_unit="users", method="finetune_rec", recipe=RECIPE)
    idle = sorted(set(range(N_USERS)) - set(train[0].tolist()))
    if idle:
        with pytest.raises(InvalidParameterError, match="have no training interactions"):
            unlearnkit.unlearn(model, train, idle[:1], forget_unit="users", method="finetune_rec", recipe=RECIPE)
    with pytest.raises(InvalidParameterError, match=r"forget_unit: a classifier forgets training examples"):
        unlearnkit.unlearn(torch.nn.Linear(2, 2), (torch.randn(4, 2), torch.zeros(4, dtype=torch.long)), [0], method="finetune",
                           forget_unit="users")
