"""A model of your own (not from the registries) as the image-classification methods see it.

The methods read a :class:`~unlearnkit.models.Classifier`: ``forward`` for
every method; ``features``/``head``/``blocks()`` for those that work on the
penultimate layer or the last k layers (DLFD's penultimate mode, CF-k,
EU-k, influence on the last blocks, ...); and a fresh copy of the
architecture for those that train one (retraining, EU-k, Bad Teacher).

* A ``Classifier`` (``Classifier(body, head)``) is used as it is.
* Any other ``nn.Module`` is wrapped in :class:`OpaqueClassifier`: its
  forward pass works, and the structure it lacks raises
  :class:`~unlearnkit.errors.ModelStructureError` naming the method, what it
  needs and how to provide it. The wrapper never reaches the caller: the
  request path unwraps the result (:func:`unwrap`), so state-dict keys are
  the caller's own.
* :class:`OwnModelBuilder` makes the fresh copies: built by ``model_factory``
  when given, otherwise a copy of the model; either is re-initialised from the
  task's generator with :func:`~unlearnkit.models.base.reset_parameters`.
  Layers that function cannot re-initialise keep the factory's own
  initialisation (made under a fork of torch's global RNG, never seeded by
  unlearnkit); without a factory such a model is refused with a message
  asking for one.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any, ClassVar

import torch
from torch import nn

from unlearnkit.data.dataset import DatasetMeta
from unlearnkit.errors import InvalidParameterError, ModelStructureError
from unlearnkit.models.base import RESETTABLE_LAYERS, Classifier, ModelBuilder, reset_parameters
from unlearnkit.params import Constraint

WRAP_HINT = (
    "wrap your model as unlearnkit.models.Classifier(body, head), where body is an nn.Sequential of blocks "
    "ending in a flat feature vector and head the final nn.Linear"
)


class OpaqueClassifier(Classifier):
    """A module whose forward pass is known but whose feature/head split is not.

    ``features``, ``head``, ``body`` and ``blocks()`` raise
    :class:`ModelStructureError` naming ``method`` and :data:`WRAP_HINT`.
    """

    def __init__(self, module: nn.Module, method: str) -> None:
        nn.Module.__init__(self)  # not Classifier.__init__: there is no body/head to register
        self.module = module
        self.method = method

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        output: torch.Tensor = self.module(x)
        return output

    def _missing(self, what: str) -> ModelStructureError:
        return ModelStructureError(
            f"method {self.method!r} needs {what}, which a plain {type(self.module).__name__} does not expose; {WRAP_HINT}"
        )

    def features(self, x: torch.Tensor) -> torch.Tensor:
        raise self._missing("the model's penultimate features (model.features(x))")

    def blocks(self) -> list[nn.Module]:
        raise self._missing("the model's layers in order (model.blocks(): body stages, then the head)")

    def __getattr__(self, name: str) -> Any:
        if name in ("head", "body"):
            raise self._missing(f"the model's {'final linear layer (model.head)' if name == 'head' else 'feature body (model.body)'}")
        return super().__getattr__(name)


def as_classifier(model: nn.Module, method: str) -> Classifier:
    """``model`` itself when it is a :class:`Classifier`; otherwise wrapped in :class:`OpaqueClassifier`."""
    return model if isinstance(model, Classifier) else OpaqueClassifier(model, method)


def unwrap(model: nn.Module) -> nn.Module:
    """The caller's kind of module: the wrapped module of an :class:`OpaqueClassifier`, else ``model``."""
    return model.module if isinstance(model, OpaqueClassifier) else model


def not_reinitialisable(model: nn.Module) -> list[str]:
    """Type names of the layers with parameters of their own that :func:`reset_parameters` does not re-initialise."""
    names = {
        type(layer).__name__
        for layer in model.modules()
        if any(True for _ in layer.parameters(recurse=False)) and not isinstance(layer, RESETTABLE_LAYERS)
    }
    return sorted(names)


def same_architecture(a: nn.Module, b: nn.Module) -> list[str]:
    """Differences between two state dicts' keys and shapes (empty when they match)."""
    sa, sb = a.state_dict(), b.state_dict()
    problems = [f"missing {k}" for k in sa if k not in sb] + [f"unexpected {k}" for k in sb if k not in sa]
    problems += [f"{k}: {tuple(sb[k].shape)} instead of {tuple(sa[k].shape)}" for k in sa if k in sb and sa[k].shape != sb[k].shape]
    return problems


class OwnModelBuilder(ModelBuilder):
    """Fresh copies of a model of your own, for the methods that train one (see the module docstring).

    Not a registry entry: it is made by the request path from the caller's
    model, so its "hyper-parameters" are that model, the method's name (for
    messages) and the optional factory.
    """

    description: ClassVar[str] = "fresh copies of a model of your own"
    parameter_constraints: ClassVar[dict[str, Constraint]] = {}

    def __init__(self, *, template: nn.Module, method: str, model_factory: Callable[[], nn.Module] | None = None) -> None:
        self.template = template
        self.method = method
        self.model_factory = model_factory

    def _build(self, meta: DatasetMeta) -> Classifier:
        raise NotImplementedError("OwnModelBuilder builds from its template or factory; call build(meta, generator)")

    def build(self, meta: DatasetMeta, generator: torch.Generator) -> Classifier:
        template = unwrap(self.template)
        if self.model_factory is not None:
            # The factory builds the architecture (initialising from torch's global RNG, which is forked here so the
            # caller's state is neither read into our results nor advanced); the weights are then drawn from the task's
            # generator wherever unlearnkit can re-initialise a layer, as for a copy of the template.
            with torch.random.fork_rng(devices=[]):
                fresh = self.model_factory()
            if not isinstance(fresh, nn.Module):
                raise InvalidParameterError(f"model_factory must return an nn.Module; it returned {type(fresh).__name__}")
            differences = same_architecture(template, fresh)
            if differences:
                raise InvalidParameterError(
                    f"model_factory builds another architecture than the model being unlearned: {'; '.join(differences[:5])}"
                )
            reset_parameters(fresh, generator)
        else:
            unknown = not_reinitialisable(template)
            if unknown:
                raise ModelStructureError(
                    f"method {self.method!r} trains a freshly initialised copy of your model, but unlearnkit cannot "
                    f"re-initialise its {', '.join(unknown)} layer(s) (it resets {', '.join(t.__name__ for t in RESETTABLE_LAYERS)}); "
                    "pass model_factory= (CLI: --model-factory), a callable returning the untrained model"
                )
            fresh = copy.deepcopy(template)
            reset_parameters(fresh, generator)
        fresh.eval()
        return as_classifier(fresh, self.method)
