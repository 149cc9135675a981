"""Deletion requests on a recommender of your own, through the recommendation kind.

The model is an :class:`unlearnkit.models.recsys.Recommender` (user and item
embedding tables, a number of propagation layers: 0 is matrix factorisation,
more is LightGCN), e.g. one you trained and loaded your embeddings into; the
recommendation methods (IFRU, influence, fine-tuning, ...) read exactly that
structure. The data are your (user, item, label) training rows followed by
your validation rows, ids as your model uses them (nothing is re-indexed).
The forget set is training rows (``forget_unit="rows"``) or every training
row of some users (``forget_unit="users"``).

Retraining-style methods build a fresh model of the same shape
(``mf`` or ``lightgcn`` with the model's dimension and layers, embeddings
drawn from N(0, 0.1²)) and train it with the given ``recipe``.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
from torch import nn

from unlearnkit.data.ids import check_ids
from unlearnkit.data.recsys.external import InteractionMembershipSplit, RowIds
from unlearnkit.data.recsys.interactions import InteractionData
from unlearnkit.data.recsys.selectors import InteractionSelector, Users
from unlearnkit.errors import InvalidParameterError
from unlearnkit.kinds.base import ExperimentKind, ResolvedExperiment, StoredOutputs
from unlearnkit.kinds.schema import MethodEntry
from unlearnkit.methods.base import UnlearningMethod
from unlearnkit.models.recsys.embedding import LightGCN, MatrixFactorisation, Recommender, RecommenderBuilder
from unlearnkit.requests.base import OwnData, RequestAdapter, RequestPlan, request_config
from unlearnkit.requests.inputs import interaction_arrays
from unlearnkit.training.missing import MissingRecTrainSpec
from unlearnkit.training.recsys import RecTrainSpec, predict_rows


def builder_like(model: Recommender) -> RecommenderBuilder:
    dim = int(model.user_embedding.shape[1])
    return MatrixFactorisation(dim=dim) if model.layers == 0 else LightGCN(dim=dim, layers=model.layers)


def check_ids_fit(user: np.ndarray, item: np.ndarray, model: Recommender, where: str) -> None:
    for name, ids, size in (("user", user, model.n_users), ("item", item, model.n_items)):
        outside = np.unique(ids[(ids < 0) | (ids >= size)])
        if outside.size:
            raise InvalidParameterError(
                f"{where}: {name} ids {outside[:5].tolist()} are outside the model's {size} {name} embeddings [0, {size})"
            )


def check_recipe(recipe: Any, method: str) -> RecTrainSpec:
    if recipe is None:
        return MissingRecTrainSpec(method)
    if not isinstance(recipe, RecTrainSpec):
        raise InvalidParameterError(
            f"recipe: a recommender's recipe is an unlearnkit.training.recsys.RecTrainSpec; got {type(recipe).__name__}"
        )
    recipe.validate_params()
    return recipe


class RecommendationRequests(RequestAdapter):
    kind_name = "recommendation"

    def accepts(self, model: nn.Module) -> bool:
        return isinstance(model, Recommender)

    def plan(
        self, kind: ExperimentKind[Any, Any], entry: MethodEntry, method: UnlearningMethod, model: nn.Module,
        train_data: Any, validation: Any, forget_ids: Any, forget_unit: str, recipe: Any, model_factory: Any, seed: int,
    ) -> RequestPlan:
        if not isinstance(model, Recommender):
            raise InvalidParameterError(f"a recommendation request needs an unlearnkit Recommender; got {type(model).__name__}")
        if model_factory is not None:
            raise InvalidParameterError("model_factory: recommenders are rebuilt from their shape (mf / lightgcn); leave it out")
        user, item, label = interaction_arrays(train_data, "train_data")
        check_ids_fit(user, item, model, "train_data")
        n_train = len(user)
        if validation is not None:
            vu, vi, vl = interaction_arrays(validation, "validation")
            check_ids_fit(vu, vi, model, "validation")
            user, item, label = np.concatenate([user, vu]), np.concatenate([item, vi]), np.concatenate([label, vl])
        data = InteractionData("own_interactions", user, item, label, model.n_users, model.n_items)
        selector: InteractionSelector
        if forget_unit == "rows":
            rows = check_ids(forget_ids, n_train, "forget_ids", what="training row")
            if rows.size == n_train:
                raise InvalidParameterError(f"forget_ids name all {n_train} training rows; nothing would be retained")
            selector = RowIds(rows=rows.tolist())
        elif forget_unit == "users":
            users = check_ids(forget_ids, model.n_users, "forget_ids", what="user id")
            selector = Users(users=users.tolist())
        else:
            raise InvalidParameterError(f"forget_unit: 'rows' (training rows) or 'users' (user ids); got {forget_unit!r}")
        name = entry.name
        resolved = ResolvedExperiment(
            config=request_config(kind, entry, seed),
            dataset=OwnData(data, "your training rows, then your validation rows"),
            selector=selector,
            split_spec=InteractionMembershipSplit(np.arange(n_train), np.arange(n_train, len(user)), np.zeros(0, dtype=np.int64)),
            model_builder=builder_like(model),
            train_spec=check_recipe(recipe, name),
            methods=[(name, method)],
            metrics=[],
            population_metrics=[],
        )
        prepared = kind.prepare(resolved, data)
        # The original as trained: conditioned on the training rows' graph (LightGCN propagates over it).
        original = copy.deepcopy(model)
        original.condition_on(prepared.data, prepared.split.train)
        original.eval()
        return RequestPlan(kind, resolved, prepared, original)

    def outputs(self, plan: RequestPlan, model: nn.Module) -> StoredOutputs:
        stored = plan.kind.stored_outputs(plan.kind.outputs(model, plan.prepared), plan.prepared)
        # The kind scores forget, validation and test rows; a request also checks what was retained.
        retain = plan.prepared.split.retain
        scores = predict_rows(model, plan.prepared.data, retain).numpy()
        stored["retain"] = (np.stack([np.zeros_like(scores), scores], axis=1).astype(np.float32), plan.prepared.data.label[retain])
        return stored

    def delivered(self, model: nn.Module) -> nn.Module:
        return model
