"""Deletion requests on a classifier of your own, through the classification kind.

The data are your training examples followed by your validation examples;
the split takes them as given (no test split: nothing is held out from you);
the forget set is the given training indices. The model is used as it is
when it is a :class:`~unlearnkit.models.Classifier`, else wrapped so that
methods needing its structure say what they need (:mod:`unlearnkit.models.own`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from unlearnkit.data.dataset import ClassificationData
from unlearnkit.data.ids import check_ids
from unlearnkit.data.membership import ForgetIds, MembershipSplit
from unlearnkit.errors import InvalidParameterError
from unlearnkit.kinds.base import ExperimentKind, ResolvedExperiment, StoredOutputs
from unlearnkit.kinds.schema import MethodEntry
from unlearnkit.methods.base import UnlearningMethod
from unlearnkit.models.own import OwnModelBuilder, as_classifier, unwrap
from unlearnkit.requests.base import OwnData, RequestAdapter, RequestPlan, request_config
from unlearnkit.requests.inputs import classification_tensors
from unlearnkit.training.loop import TrainSpec
from unlearnkit.training.missing import MissingTrainSpec


def output_width(model: nn.Module, x: torch.Tensor) -> int:
    """The number of logits ``model`` gives one example (checks it maps (N, ...) to (N, classes))."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            out = model(x[:2])
    except Exception as error:  # the caller's model: any failure means the data does not fit it
        raise InvalidParameterError(
            f"the model cannot run on train_data's examples of shape {tuple(x.shape[1:])}: {type(error).__name__}: {error}"
        ) from error
    finally:
        model.train(was_training)
    if not isinstance(out, torch.Tensor) or out.ndim != 2 or out.shape[0] != len(x[:2]):
        shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise InvalidParameterError(f"the model must map a batch (N, ...) to logits (N, classes); for N = {len(x[:2])} it gave {shape}")
    return int(out.shape[1])


def check_recipe(recipe: Any, method: str) -> TrainSpec:
    if recipe is None:
        return MissingTrainSpec(method)
    if not isinstance(recipe, TrainSpec):
        raise InvalidParameterError(f"recipe: a classifier's recipe is an unlearnkit.training.TrainSpec; got {type(recipe).__name__}")
    recipe.validate_params()
    return recipe


class ClassificationRequests(RequestAdapter):
    kind_name = "classification"

    def accepts(self, model: nn.Module) -> bool:
        return True  # every module that is not a recommender (the recommendation adapter is asked first)

    def plan(
        self, kind: ExperimentKind[Any, Any], entry: MethodEntry, method: UnlearningMethod, model: nn.Module,
        train_data: Any, validation: Any, forget_ids: Any, forget_unit: str, recipe: Any, model_factory: Any, seed: int,
    ) -> RequestPlan:
        if forget_unit != "rows":
            raise InvalidParameterError(f"forget_unit: a classifier forgets training examples ('rows'); got {forget_unit!r}")
        devices = {p.device.type for p in model.parameters()}
        if devices - {"cpu"}:
            raise InvalidParameterError(
                f"the model must be on the CPU (unlearnkit computes on the CPU); its parameters are on {sorted(devices)}"
            )
        x, y = classification_tensors(train_data, "train_data")
        n_train = len(y)
        if validation is not None:
            xv, yv = classification_tensors(validation, "validation")
            if xv.shape[1:] != x.shape[1:]:
                raise InvalidParameterError(
                    f"validation examples have shape {tuple(xv.shape[1:])} but train_data's have {tuple(x.shape[1:])}"
                )
            x, y = torch.cat([x, xv]), torch.cat([y, yv])
        n_classes = output_width(model, x)
        if int(y.max()) >= n_classes:
            raise InvalidParameterError(f"labels go up to {int(y.max())} but the model gives {n_classes} logits per example")
        ids = check_ids(forget_ids, n_train, "forget_ids", what="training index")
        if ids.size == n_train:
            raise InvalidParameterError(f"forget_ids name all {n_train} training examples; nothing would be retained")
        data = ClassificationData("own_data", x, y, y.clone(), n_classes=n_classes)
        name = entry.name
        resolved = ResolvedExperiment(
            config=request_config(kind, entry, seed),
            dataset=OwnData(data, "your training data, then your validation data"),
            selector=ForgetIds(ids=ids.tolist()),
            split_spec=MembershipSplit(np.arange(n_train), np.arange(n_train, len(y)), np.zeros(0, dtype=np.int64)),
            model_builder=OwnModelBuilder(template=model, method=name, model_factory=model_factory),
            train_spec=check_recipe(recipe, name),
            methods=[(name, method)],
            metrics=[],
            population_metrics=[],
        )
        return RequestPlan(kind, resolved, kind.prepare(resolved, data), as_classifier(model, name))

    def outputs(self, plan: RequestPlan, model: nn.Module) -> StoredOutputs:
        return plan.kind.stored_outputs(plan.kind.outputs(model, plan.prepared), plan.prepared)

    def delivered(self, model: nn.Module) -> nn.Module:
        return unwrap(model)
