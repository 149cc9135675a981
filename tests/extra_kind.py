"""A minimal extra kind that lives only in the tests: tabular logistic regression.

It shows what a kind is: one module defining an ``ExperimentKind`` (its own
data, selector, model, recipe, task, one method and one metric here), plus one
registry line (the test adds it to ``KINDS`` for its duration). Nothing in
``unlearnkit.experiment``, ``store`` or ``report`` knows it exists.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import numpy as np
import torch
from torch import nn

from unlearnkit.data.splits import Split
from unlearnkit.kinds.base import Evaluated, ExperimentKind, Prepared, ResolvedExperiment, StoredOutputs
from unlearnkit.kinds.schema import ExperimentFields
from unlearnkit.methods.base import UnlearningMethod
from unlearnkit.metrics.base import Metric
from unlearnkit.params import Configurable, Interval
from unlearnkit.progress import Progress
from unlearnkit.registry import Registry


@dataclass(frozen=True, eq=False)
class TabularData:
    x: torch.Tensor  # (n, d) float32
    y: torch.Tensor  # (n,) int64 in {0, 1}
    fingerprint: str = field(init=False)

    def __post_init__(self) -> None:
        digest = hashlib.sha256(self.x.numpy().tobytes() + self.y.numpy().tobytes()).hexdigest()[:16]
        object.__setattr__(self, "fingerprint", digest)

    def __len__(self) -> int:
        return int(self.y.shape[0])

    @property
    def meta(self) -> int:
        return int(self.x.shape[1])


class Blobs(Configurable):
    description = "two Gaussian blobs in d dimensions"
    parameter_constraints = {"n": Interval(int, 20, None), "d": Interval(int, 1, 100), "seed": Interval(int, 0, None)}

    def __init__(self, *, n: int = 120, d: int = 4, seed: int = 0) -> None:
        self.n, self.d, self.seed = n, d, seed

    def load(self) -> TabularData:
        rng = np.random.default_rng(self.seed)
        y = rng.integers(0, 2, self.n)
        x = rng.normal(size=(self.n, self.d)) + 1.5 * (2 * y[:, None] - 1)
        return TabularData(torch.as_tensor(x, dtype=torch.float32), torch.as_tensor(y, dtype=torch.int64))


class FirstRows(Configurable):
    description = "forget the first `count` training rows"
    defines_distribution = False
    parameter_constraints = {"count": Interval(int, 1, None)}

    def __init__(self, *, count: int = 5) -> None:
        self.count = count


class Logistic(Configurable):
    description = "logistic regression"
    parameter_constraints: ClassVar[dict[str, Any]] = {}

    def build(self, dimension: int, generator: torch.Generator) -> nn.Module:
        model = nn.Linear(dimension, 2)
        with torch.no_grad():
            model.weight.copy_(0.1 * torch.randn(model.weight.shape, generator=generator))
            model.bias.zero_()
        return model


class HalfSplit(Configurable):
    description = "half train, a quarter validation, a quarter test"
    parameter_constraints: ClassVar[dict[str, Any]] = {}


class Recipe(Configurable):
    description = "full-batch gradient descent"
    parameter_constraints = {"steps": Interval(int, 1, 10_000), "lr": Interval(float, 0.0, None, "neither")}

    def __init__(self, *, steps: int = 100, lr: float = 0.5) -> None:
        self.steps, self.lr = steps, lr


def fit(model: nn.Module, x: torch.Tensor, y: torch.Tensor, recipe: Recipe) -> None:
    optimiser = torch.optim.SGD(model.parameters(), lr=recipe.lr)
    for _ in range(recipe.steps):
        optimiser.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        optimiser.step()
    model.eval()


@dataclass(frozen=True, eq=False)
class TabularTask:
    kind: ClassVar[str] = "tabular"
    data: TabularData
    split: Split
    recipe: Recipe
    generator: torch.Generator


class TabularRetrain(UnlearningMethod):
    description = "retrain the logistic regression on the retained rows"
    task_kinds = frozenset({"tabular"})
    role = "retrain"
    empty_forget = "run"

    def _unlearn(self, model: nn.Module, task: TabularTask) -> tuple[nn.Module, dict[str, Any]]:
        fresh = Logistic().build(task.data.meta, task.generator)
        retain = torch.as_tensor(task.split.retain)
        fit(fresh, task.data.x[retain], task.data.y[retain], task.recipe)
        return fresh, {}


class TabularAscent(UnlearningMethod):
    description = "a few gradient-ascent steps on the forget rows"
    task_kinds = frozenset({"tabular"})
    parameter_constraints = {"steps": Interval(int, 1, 100)}
    search_space = {"steps": [1, 3]}

    def __init__(self, *, steps: int = 2) -> None:
        self.steps = steps

    def _unlearn(self, model: nn.Module, task: TabularTask) -> tuple[nn.Module, dict[str, Any]]:
        forget = torch.as_tensor(task.split.forget)
        optimiser = torch.optim.SGD(model.parameters(), lr=0.1)
        for _ in range(self.steps):
            optimiser.zero_grad()
            (-nn.functional.cross_entropy(model(task.data.x[forget]), task.data.y[forget])).backward()
            optimiser.step()
        return model, {"steps": self.steps}


@dataclass(frozen=True)
class TabularContext:
    logits: dict[str, torch.Tensor]
    labels: dict[str, torch.Tensor]


class TabularForgetAccuracy(Metric):
    description = "accuracy on the forget rows"
    direction = "reference"
    notion = "untraining"
    task_kinds = frozenset({"tabular"})

    def compute(self, ctx: TabularContext) -> float:  # type: ignore[override]  # this kind's own context type
        return float((ctx.logits["forget"].argmax(1) == ctx.labels["forget"]).float().mean())


SPLITS = ("forget", "validation", "test")


class TabularConfig(ExperimentFields):
    kind: Literal["tabular"]


class TabularKind(ExperimentKind[TabularData, TabularContext]):
    name = "tabular"
    description = "tabular logistic regression (test-only kind)"
    config_model = TabularConfig
    goals = ("untraining",)

    @property
    def datasets(self) -> Registry[Any]:
        return Registry("tabular dataset", {"blobs": Blobs})

    @property
    def selectors(self) -> Registry[Any]:
        return Registry("tabular selector", {"first_rows": FirstRows})

    @property
    def models(self) -> Registry[Any]:
        return Registry("tabular model", {"logistic": Logistic})

    @property
    def split_spec(self) -> type[Configurable]:
        return HalfSplit

    @property
    def train_spec(self) -> type[Configurable]:
        return Recipe

    def toy_config(self) -> dict[str, Any]:
        return {
            "kind": "tabular", "name": "toy_tabular", "seeds": [0], "dataset": {"name": "blobs"},
            "forget": {"name": "first_rows"}, "model": {"name": "logistic"},
            "methods": [{"name": "tabular_retrain"}], "metrics": ["tabular_forget_acc"],
        }

    def stored_splits(self, config: ExperimentFields) -> tuple[str, ...]:
        return SPLITS

    def prepare(self, resolved: ResolvedExperiment, data: TabularData) -> Prepared[TabularData]:
        n = len(data)
        train, validation, test = np.arange(n // 2), np.arange(n // 2, 3 * n // 4), np.arange(3 * n // 4, n)
        split = Split(n, train, train[: resolved.selector.count], validation, test)
        return Prepared(data, split, data.fingerprint)

    def fit(
        self, resolved: ResolvedExperiment, prepared: Prepared[TabularData], rows: np.ndarray, generator: torch.Generator,
        progress: Progress, description: str,
    ) -> tuple[nn.Module, dict[str, Any]]:
        model = resolved.model_builder.build(prepared.data.meta, generator)
        index = torch.as_tensor(rows)
        fit(model, prepared.data.x[index], prepared.data.y[index], resolved.train_spec)
        return model, {}

    def restore(
        self, resolved: ResolvedExperiment, prepared: Prepared[TabularData], rows: np.ndarray, state: Mapping[str, torch.Tensor]
    ) -> nn.Module:
        model = resolved.model_builder.build(prepared.data.meta, torch.Generator().manual_seed(0))
        model.load_state_dict(state)
        return model.eval()

    def task(self, resolved: ResolvedExperiment, prepared: Prepared[TabularData], generator: torch.Generator, progress: Progress) -> Any:
        return TabularTask(prepared.data, prepared.split, resolved.train_spec, generator)

    def outputs(self, model: nn.Module, prepared: Prepared[TabularData]) -> TabularContext:
        with torch.no_grad():
            index = {s: torch.as_tensor(getattr(prepared.split, s)) for s in SPLITS}
            return TabularContext(
                {s: model(prepared.data.x[i]) for s, i in index.items()}, {s: prepared.data.y[i] for s, i in index.items()}
            )

    def stored_outputs(self, outputs: TabularContext, prepared: Prepared[TabularData]) -> StoredOutputs:
        return {s: (outputs.logits[s].numpy(), outputs.labels[s].numpy()) for s in SPLITS}

    def metric_context(
        self, prepared: Prepared[TabularData], evaluated: Evaluated[TabularContext], reference: Evaluated[TabularContext],
        original: Evaluated[TabularContext], seed: int,
    ) -> TabularContext:
        return evaluated.outputs

    def selection_gap(self, prepared: Prepared[TabularData], outputs: TabularContext, reference: TabularContext, seed: int) -> float:
        ours = float((outputs.logits["forget"].argmax(1) == outputs.labels["forget"]).float().mean())
        theirs = float((reference.logits["forget"].argmax(1) == reference.labels["forget"]).float().mean())
        return 100.0 * abs(ours - theirs)
