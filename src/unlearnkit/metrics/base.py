"""The metric contract and the evaluation context metrics read from.

A model is evaluated once: its logits on every split are computed up front
(:class:`ModelOutputs`), and every metric is a cheap function of those
outputs, the reference's outputs and timings.  A metric that needs the
reference and does not get it raises :class:`MissingReferenceError`; it
never returns a default in its place.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import numpy as np
import torch
from torch import nn

from unlearnkit.data.dataset import ClassificationData
from unlearnkit.data.splits import Split
from unlearnkit.errors import MissingReferenceError
from unlearnkit.params import Configurable
from unlearnkit.training.loop import predict_logits

SPLIT_NAMES = ("retain", "forget", "validation", "test", "heldout_forget")
# Kinds whose models are classifiers scored by logits (images, token ids): the default of a metric's task_kinds.
CLASSIFIER_KINDS = frozenset({"classification", "text_classification"})
# Every kind a timing metric (wall time, speedup, peak memory) serves.
ALL_KINDS = frozenset({*CLASSIFIER_KINDS, "recommendation", "language_model"})
Goal = Literal["untraining", "unlearning"]


def split_indices(split: Split, name: str) -> np.ndarray | None:
    return split.retain if name == "retain" else getattr(split, name)


@dataclass(frozen=True, eq=False)
class ModelOutputs:
    """Per-example logits and labels of one model on each split (absent splits are omitted)."""

    logits: dict[str, torch.Tensor]
    labels: dict[str, torch.Tensor]

    @classmethod
    def compute(cls, model: nn.Module, data: ClassificationData, split: Split) -> ModelOutputs:
        logits, labels = {}, {}
        for name in SPLIT_NAMES:
            idx = split_indices(split, name)
            if idx is not None and idx.size:
                index = torch.as_tensor(idx)
                logits[name] = predict_logits(model, data.x[index])
                labels[name] = data.y[index]
        return cls(logits, labels)

    def has(self, name: str) -> bool:
        return name in self.logits


@dataclass(eq=False)
class EvalContext:
    """What metrics may read about one unlearned model (and its reference).

    ``memo`` caches shared intermediate results (an MIA used by several
    metrics) for this model only.
    """

    outputs: ModelOutputs
    seconds: float
    reference: ModelOutputs | None = None
    reference_seconds: float | None = None
    seed: int = 0
    model: nn.Module | None = None
    data: ClassificationData | None = None
    split: Split | None = None
    peak_memory_mib: float | None = None
    memo: dict[str, Any] = field(default_factory=dict)

    def require_reference(self, metric: str) -> tuple[ModelOutputs, float]:
        if self.reference is None or self.reference_seconds is None:
            raise MissingReferenceError(f"metric {metric!r} needs the retrained reference, which was not provided")
        return self.reference, self.reference_seconds

    def for_reference(self, metric: str) -> EvalContext:
        """A context that evaluates the reference itself (for gaps to the reference)."""
        reference, seconds = self.require_reference(metric)
        return EvalContext(reference, seconds, seed=self.seed, data=self.data, split=self.split)


class Metric(Configurable, ABC):
    """A named number computed from an :class:`EvalContext`.

    ``direction``: "higher" / "lower" is better, or "reference" (closest to
    the retrained model's value is better). ``goals`` lists the experiment
    goals the metric is meaningful for; ``notion`` says what it measures
    (utility, untraining, unlearning, efficiency, diagnostic).
    """

    description: ClassVar[str]
    direction: ClassVar[Literal["higher", "lower", "reference"]]
    needs_reference: ClassVar[bool] = False
    needs_model: ClassVar[bool] = False  # reads the model itself (e.g. its features), not only its outputs
    goals: ClassVar[frozenset[str]] = frozenset({"untraining", "unlearning"})
    notion: ClassVar[str] = "utility"
    requires_splits: ClassVar[tuple[str, ...]] = ()
    # Which experiment kinds the metric reads ("classification", "text_classification", "recommendation", ...).
    task_kinds: ClassVar[frozenset[str]] = CLASSIFIER_KINDS

    @abstractmethod
    def compute(self, ctx: EvalContext) -> float: ...

    def needed_splits(self) -> tuple[str, ...]:
        """The splits this instance reads: ``requires_splits``, plus any its parameters name."""
        return self.requires_splits

    def arrays(self, ctx: EvalContext) -> dict[str, np.ndarray]:
        """Per-example arrays behind the number (e.g. each target's exposure), stored with the model; none by default.

        Called after :meth:`compute` with the same context, so a metric can
        return what ``compute`` memoised instead of computing it again.
        """
        return {}

    def missing_inputs(self, ctx: EvalContext) -> list[str]:
        missing = [f"split {s!r}" for s in self.needed_splits() if not ctx.outputs.has(s)]
        if self.needs_reference and ctx.reference is None:
            missing.append("the retrained reference")
        return missing
