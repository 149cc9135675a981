"""The method contract: hyper-parameters in the constructor, one ``unlearn`` entry point.

``unlearn`` never touches the caller's model: it works on a deep copy and
returns a new model with its wall time and diagnostics. All randomness comes
from ``task.generator``.
"""

from __future__ import annotations

import copy
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, ClassVar, Literal

import torch
from torch import nn

from unlearnkit.data.dataset import ClassificationData
from unlearnkit.data.splits import Split
from unlearnkit.errors import InvalidParameterError
from unlearnkit.models.base import ModelBuilder
from unlearnkit.params import Configurable
from unlearnkit.progress import Progress, SilentProgress
from unlearnkit.training.loop import TrainSpec


@dataclass(frozen=True, eq=False)
class UnlearnTask:
    """Everything a method may use: data, split, the original recipe, a generator.

    ``train_spec`` and ``model_builder`` describe how the original was made,
    so retraining (and re-initialising layers) follows the same recipe.
    ``time_budget`` (seconds), when set, is honoured by the framework's
    optimisation loop, which stops early and records that it did.
    """

    data: ClassificationData
    split: Split
    train_spec: TrainSpec
    model_builder: ModelBuilder
    generator: torch.Generator
    progress: Progress = field(default_factory=SilentProgress)
    time_budget: float | None = None

    kind: ClassVar[str] = "classification"

    def subset(self, indices: Any) -> tuple[torch.Tensor, torch.Tensor]:
        index = torch.as_tensor(indices, dtype=torch.long)
        return self.data.x[index], self.data.y[index]

    @cached_property
    def retain(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.subset(self.split.retain)

    @cached_property
    def forget(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.subset(self.split.forget)

    @cached_property
    def validation(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.subset(self.split.validation)


@dataclass(frozen=True, eq=False)
class TextClassificationTask(UnlearnTask):
    """An :class:`UnlearnTask` whose inputs are token ids (``data.x`` int64, kind "text_classification").

    The image-classification methods that only read the model's outputs,
    parameters and features serve it; those that perturb or synthesise
    inputs (noise, adversarial steps) do not declare it.
    """

    kind: ClassVar[str] = "text_classification"


# The classifier kinds a method of the model's outputs and parameters serves (images and token ids).
CLASSIFIER_KINDS: frozenset[str] = frozenset({"classification", "text_classification"})


@dataclass(frozen=True, eq=False)
class UnlearnResult:
    model: nn.Module
    seconds: float
    diagnostics: dict[str, Any] = field(default_factory=dict)


class UnlearningMethod(Configurable, ABC):
    """Base class of every unlearning method (retraining included).

    Subclasses declare ``description``, ``parameter_constraints``, the task
    kinds they support, what they do with an empty forget set
    (``"return_copy"``: the original is returned unchanged; ``"run"``: the
    method runs anyway, e.g. retraining on the full training set) and a
    ``search_space`` of hyper-parameter values worth trying, then implement
    ``_unlearn`` on a private copy of the model.
    """

    description: ClassVar[str]
    task_kinds: ClassVar[frozenset[str]] = frozenset({"classification"})
    empty_forget: ClassVar[Literal["return_copy", "run"]] = "return_copy"
    search_space: ClassVar[dict[str, list[Any]]] = {}
    # "retrain": exact retraining (the untraining reference); "original": do nothing
    # (the baseline gaps are measured against); reports key their special rows on this.
    role: ClassVar[Literal["retrain", "original", "method"]] = "method"
    # "shared": unlearns from the experiment's original (the kind's recipe on the
    # training set). "own": needs an original of its own (sharded ensembles), made
    # by `train_original`, stored by `original_state`, rebuilt by `restore_original`.
    original: ClassVar[Literal["shared", "own"]] = "shared"

    def train_original(self, task: Any) -> nn.Module:
        """The original this method unlearns from, when ``original == "own"``."""
        raise NotImplementedError(f"{type(self).__name__} unlearns from the shared original; it trains none of its own")

    def original_state(self, model: nn.Module) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        """What the model cache stores of an own original: its state dict and JSON metadata."""
        return dict(model.state_dict()), {}

    def restore_original(self, task: Any, state: dict[str, torch.Tensor], meta: dict[str, Any]) -> nn.Module:
        """An own original rebuilt from :meth:`original_state`'s output."""
        raise NotImplementedError(f"{type(self).__name__} unlearns from the shared original; it restores none of its own")

    @abstractmethod
    def _unlearn(self, model: nn.Module, task: UnlearnTask) -> tuple[nn.Module, dict[str, Any]]:
        """Unlearn on ``model`` (a private copy); return the new model and diagnostics."""

    def unlearn(self, model: nn.Module, task: UnlearnTask) -> UnlearnResult:
        self.validate_params()
        if task.kind not in self.task_kinds:
            raise InvalidParameterError(
                f"{type(self).__name__} supports {sorted(self.task_kinds)} tasks; got a {task.kind!r} task"
            )
        private = copy.deepcopy(model)
        if task.split.forget.size == 0 and self.empty_forget == "return_copy":
            return UnlearnResult(private, 0.0, {"empty_forget": True})
        start = time.perf_counter()
        new_model, diagnostics = self._unlearn(private, task)
        seconds = time.perf_counter() - start
        new_model.eval()
        return UnlearnResult(new_model, seconds, diagnostics)
