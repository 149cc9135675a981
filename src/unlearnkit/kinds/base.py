"""The kind contract: what one kind of task (image classification, recommendation, ...) plugs into the skeleton.

The experiment skeleton (:mod:`unlearnkit.experiment`) is the same for every
kind: validate the configuration -> resolve components -> load data and build
the split -> train (or load from the content-keyed cache) the original and
the reference -> run methods -> compute metrics -> store per-example outputs
-> population metrics at report time. An :class:`ExperimentKind` supplies
everything that differs between kinds:

* its configuration schema (``config_model``) and registries (datasets,
  forget selectors, models) plus its split and training-recipe classes;
* data loading, the split and forget selection (:meth:`prepare`);
* how a model is trained from scratch and rebuilt from a stored state
  (:meth:`fit`, :meth:`restore`), with the recipe shared by original and
  reference;
* the task object a method receives (:meth:`task`);
* per-example outputs (:meth:`outputs`, :meth:`stored_outputs`) and the
  context its metrics read (:meth:`metric_context`);
* the validation-only score ``tune`` ranks settings by (:meth:`selection_gap`);
* whether its experiments may have similar samples of the forget set
  (:attr:`similar_modality`: the ``similar`` table and the method-level
  ``forget`` expansions, validated here and applied by :meth:`expand_forget`).

Methods and metrics declare the kinds they serve in ``task_kinds``; the
method and metric registries are shared by every kind.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar, Generic, Protocol, TypeVar

import numpy as np
import torch
from torch import nn

from unlearnkit.data.ids import FileBacked
from unlearnkit.data.similar import FORGET_EXPANSIONS, SIMILAR_CONSTRUCTORS, Neighbourhood, SimilarSet, SimilarSpec
from unlearnkit.data.splits import Split
from unlearnkit.errors import InvalidParameterError
from unlearnkit.kinds.schema import Component, ExperimentFields
from unlearnkit.methods.base import UnlearningMethod
from unlearnkit.methods.registry import METHODS
from unlearnkit.metrics.base import Metric
from unlearnkit.metrics.population_metrics import PopulationMetric, population_label
from unlearnkit.metrics.registry import METRICS, POPULATION_METRICS
from unlearnkit.params import Configurable
from unlearnkit.progress import Progress
from unlearnkit.registry import Registry, did_you_mean

DataT = TypeVar("DataT")
OutputsT = TypeVar("OutputsT")
LoadedT_co = TypeVar("LoadedT_co", covariant=True)  # a protocol's return-only type variable is covariant

# split name -> (per-example logits (n, classes), labels (n,)): what the store keeps per model.
StoredOutputs = dict[str, tuple[np.ndarray, np.ndarray]]
# name -> array: what the store keeps per model beyond logits (per-target exposures, reconstructions, ...).
StoredArrays = dict[str, np.ndarray]

# The encoder each modality's similar samples and neighbourhoods may use in a configuration.
# ("features" reads a trained model, which does not exist yet when the data are prepared.)
CONFIG_ENCODERS = {"image": "pixels", "text": "sentence"}


class Loadable(Protocol[LoadedT_co]):
    """A dataset source: its parameters and the data they load."""

    def load(self) -> LoadedT_co: ...
    def get_params(self) -> dict[str, Any]: ...


def file_params(component: Any) -> dict[str, Any]:
    """A component's parameters, plus the SHA-256 of the file it reads when it reads one (so keys follow the content)."""
    params: dict[str, Any] = component.get_params()
    return {**params, "sha256": component.source_digest()} if isinstance(component, FileBacked) else params


@dataclass(frozen=True, eq=False)
class ResolvedExperiment:
    """An experiment's components, built once from its validated configuration."""

    config: ExperimentFields
    dataset: Loadable[Any]  # the kind's dataset source
    selector: Any  # the kind's forget selector
    split_spec: Any
    model_builder: Any
    train_spec: Any
    methods: list[tuple[str, UnlearningMethod]]
    metrics: list[tuple[str, Metric]]
    population_metrics: list[tuple[str, PopulationMetric]]
    similar: SimilarSpec | None = None
    # method label -> the expansion of the forget set that method unlearns (the remedy)
    forget_expansions: Mapping[str, Neighbourhood] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.config.name

    def data_params(self) -> list[Any]:
        return [self.config.dataset.name, self.dataset.get_params()]

    def split_params(self) -> dict[str, Any]:
        """The split recipe's parameters; a named (non-default) recipe adds its name, a file-backed one its content hash."""
        name = self.config.split.get("name")
        params = file_params(self.split_spec)
        return params if name is None else {"name": name, **params}

    def setting(self) -> dict[str, Any]:
        """Everything that determines the data, the split, the original and the reference (defaults filled in).

        Similar samples (when configured) add their constructor, its
        parameters, the construction's seed, doses and held-out copies.
        """
        setting = {
            "kind": self.config.kind,
            "goal": self.config.goal,
            "dataset": self.data_params(),
            "forget": [self.config.forget.name, file_params(self.selector)],
            "split": self.split_params(),
            "model": [self.config.model.name, self.model_builder.get_params()],
            "train": self.train_spec.get_params(),
        }
        if self.similar is not None:
            setting["similar"] = self.similar.describe()
        return setting

    def expansion_params(self, label: str) -> list[Any] | None:
        """The forget expansion of method ``label`` as [name, parameters], or None when it unlearns S itself."""
        expansion = self.forget_expansions.get(label)
        return None if expansion is None else ["neighbourhood", expansion.get_params()]

    def metric_params(self) -> list[list[Any]]:
        return [[name, metric.get_params()] for name, metric in self.metrics]


@dataclass(frozen=True, eq=False)
class Prepared(Generic[DataT]):
    """An experiment's data (as trained: e.g. flipped labels applied) and its validated split.

    With similar samples: ``similar`` records which rows are similar to which
    forget target, and ``source`` is what the similar samples were made from
    or found in, row-aligned with ``data`` (images: the data itself; text:
    the documents before tokenisation), which a neighbourhood expansion reads.
    """

    data: DataT
    split: Split
    fingerprint: str  # content hash of ``data``; model-cache keys include it
    similar: SimilarSet | None = None
    source: Any = None


@dataclass(frozen=True, eq=False)
class Evaluated(Generic[OutputsT]):
    """A model, its per-example outputs, and what producing it cost."""

    model: nn.Module
    outputs: OutputsT
    seconds: float
    peak_memory_mib: float | None


def component_problems(registry: Registry[Any], component: Component, where: str) -> list[str]:
    """An unknown name (listing what exists) or the parameter problems of a registered component."""
    if component.name not in registry:
        return [
            f"{where}.name: unknown {registry.kind} {component.name!r}{did_you_mean(component.name, registry)}; "
            f"registered {registry.kind}s: {', '.join(registry)}"
        ]
    cls: type[Configurable] = registry[component.name]
    return cls.parameter_problems(component.params, where)


class ExperimentKind(ABC, Generic[DataT, OutputsT]):
    """Everything kind-specific the one experiment skeleton needs (see the module docstring)."""

    name: ClassVar[str]
    description: ClassVar[str]
    config_model: ClassVar[type[ExperimentFields]]
    goals: ClassVar[tuple[str, ...]] = ("untraining", "unlearning")
    # "image" or "text": the data similar samples are made of; None: this kind has no similar samples.
    similar_modality: ClassVar[str | None] = None

    @property
    @abstractmethod
    def datasets(self) -> Registry[Any]: ...

    @property
    @abstractmethod
    def selectors(self) -> Registry[Any]: ...

    @property
    @abstractmethod
    def models(self) -> Registry[Any]: ...

    @property
    @abstractmethod
    def split_spec(self) -> type[Configurable]:
        """The split recipe of an experiment whose ``split`` table names none."""

    @property
    def splits(self) -> Registry[Any]:
        """Named split recipes (``split = { name = "file", ... }``); override to offer more than :attr:`split_spec`."""
        return Registry("split", {"random": self.split_spec})

    def split_class(self, split: Mapping[str, Any]) -> tuple[type[Configurable], dict[str, Any]]:
        """The split recipe a ``split`` table asks for and its parameters (``name`` removed); the name must be registered."""
        params = dict(split)
        name = params.pop("name", None)
        return (self.split_spec if name is None else self.splits[name]), params

    @property
    @abstractmethod
    def train_spec(self) -> type[Configurable]: ...

    @abstractmethod
    def toy_config(self) -> dict[str, Any]:
        """A tiny synthetic experiment of this kind (seconds on one CPU core) for contract checks and examples."""

    # -- validation and resolution -------------------------------------------
    def problems(self, config: ExperimentFields, where: str) -> list[str]:
        """Every problem with the meaning of one structurally valid experiment of this kind."""
        problems = component_problems(self.datasets, config.dataset, f"{where}.dataset")
        problems += component_problems(self.selectors, config.forget, f"{where}.forget")
        problems += component_problems(self.models, config.model, f"{where}.model")
        split_name = config.split.get("name")
        if split_name is not None and split_name not in self.splits:
            problems.append(
                f"{where}.split.name: unknown split {split_name!r}{did_you_mean(split_name, self.splits)}; "
                f"{self.name} splits: {', '.join(self.splits)}"
            )
        else:
            split_class, split_params = self.split_class(config.split)
            problems += split_class.parameter_problems(split_params, f"{where}.split")
        problems += self.train_spec.parameter_problems(config.train, f"{where}.train")
        if config.goal not in self.goals:
            problems.append(f"{where}.goal: {self.name} experiments support {list(self.goals)}; got {config.goal!r}")
        for index, method in enumerate(config.methods):
            problems += self._kind_component_problems(METHODS, method, f"{where}.methods[{index}]")
        for index, metric in enumerate(config.metric_components()):
            problems += self._kind_component_problems(METRICS, metric, f"{where}.metrics[{index}]")
        problems += self._population_problems(config, where)
        problems += self.similar_problems(config, where)
        return problems + self.extra_problems(config, where)

    def extra_problems(self, config: ExperimentFields, where: str) -> list[str]:
        """Checks that only make sense for this kind (override when needed)."""
        return []

    def similar_problems(self, config: ExperimentFields, where: str) -> list[str]:
        """Problems with the ``similar`` table and the methods' ``forget`` expansions."""
        problems = []
        entry = config.similar
        if entry is not None:
            problems += self._similar_entry_problems(entry, f"{where}.similar")
        for index, method in enumerate(config.methods):
            if method.forget is None:
                continue
            at = f"{where}.methods[{index}].forget"
            if self.similar_modality is None:
                problems.append(f"{at}: {self.name} experiments have no similar samples, so no neighbourhood to expand the forget set with")
                continue
            found = component_problems(FORGET_EXPANSIONS, method.forget, at)
            if found:
                problems += found
                continue
            params = FORGET_EXPANSIONS[method.forget.name](**method.forget.params).get_params()
            if params["source"] != "embedding" and entry is None:
                problems.append(
                    f"{at}.source: {params['source']!r} reads the similar samples recorded by the experiment's `similar` table, "
                    "which this experiment does not have; add one or use source = \"embedding\""
                )
            if params["source"] != "recorded":
                problems += self._encoder_problems(params["encoder"], f"{at}.encoder")
        return problems

    def _similar_entry_problems(self, entry: Any, at: str) -> list[str]:
        if self.similar_modality is None:
            return [f"{at}: {self.name} experiments have no similar samples; kinds with them: classification, text kinds"]
        found = component_problems(SIMILAR_CONSTRUCTORS, entry, at)
        if found:
            return found
        cls = SIMILAR_CONSTRUCTORS[entry.name]
        problems = []
        if self.similar_modality not in cls.modalities:
            usable = [n for n in SIMILAR_CONSTRUCTORS if self.similar_modality in SIMILAR_CONSTRUCTORS[n].modalities]
            made = "/".join(sorted(cls.modalities))
            problems.append(f"{at}.name: {entry.name!r} makes {made} samples; {self.name} needs one of {', '.join(usable)}")
        if not cls.appends and (entry.doses is not None or entry.heldout):
            problems.append(f"{at}: {entry.name!r} finds existing neighbours; 'doses' and 'heldout' need a constructor that makes copies")
        if entry.doses is not None and "copies" in entry.params:
            problems.append(f"{at}: give 'copies' or 'doses', not both ('doses' sets the copies of each target)")
        if "encoder" in entry.params:
            problems += self._encoder_problems(entry.params["encoder"], f"{at}.encoder")
        elif "encoder" in cls.parameter_constraints:
            problems += self._encoder_problems(cls(**entry.params).get_params()["encoder"], f"{at}.encoder")
        return problems

    def _encoder_problems(self, encoder: str, at: str) -> list[str]:
        wanted = CONFIG_ENCODERS[self.similar_modality or ""]
        if encoder != wanted:
            return [
                f"{at}: {self.name} experiments embed with {wanted!r} (a trained model's 'features' do not exist when the data "
                f"are prepared); got {encoder!r}"
            ]
        return []

    def method_problems(self, method: Component, where: str) -> list[str]:
        """Problems with one method entry for this kind: unknown name, another kind's method, bad hyper-parameters."""
        return self._kind_component_problems(METHODS, method, where)

    def _kind_component_problems(self, registry: Registry[Any], component: Component, where: str) -> list[str]:
        problems = component_problems(registry, component, where)
        if component.name in registry and self.name not in registry[component.name].task_kinds:
            usable = [n for n in registry if self.name in registry[n].task_kinds]
            problems.append(
                f"{where}.name: {component.name!r} is a {registry.kind} for {sorted(registry[component.name].task_kinds)} "
                f"experiments; for {self.name} use one of {', '.join(usable)}"
            )
        return problems

    def _population_problems(self, config: ExperimentFields, where: str) -> list[str]:
        components = config.population_components()
        if not components:
            return []
        problems = []
        if len(config.seeds) < 2:
            problems.append(
                f"{where}.population_metrics: population metrics compare N unlearned with N reference models and need "
                f"at least 2 seeds (8 or more to mean much); seeds = {config.seeds}"
            )
        labels = []
        for index, metric in enumerate(components):
            at = f"{where}.population_metrics[{index}]"
            found = component_problems(POPULATION_METRICS, metric, at)
            problems += found
            if found:
                continue
            labels.append(population_label(metric.name, metric.params))
            split = POPULATION_METRICS[metric.name](**metric.params).split_name
            if split not in self.stored_splits(config):
                problems.append(
                    f"{at}: split {split!r} is not among the per-example outputs this experiment stores "
                    f"({', '.join(self.stored_splits(config))})"
                )
        duplicates = sorted({x for x in labels if labels.count(x) > 1})
        return problems + [f"{where}.population_metrics: {label!r} is listed twice" for label in duplicates]

    @abstractmethod
    def stored_splits(self, config: ExperimentFields) -> tuple[str, ...]:
        """The splits whose per-example outputs this experiment stores (population metrics read them)."""

    def resolve(self, config: ExperimentFields) -> ResolvedExperiment:
        """Components from a configuration that passed :meth:`problems` (each built once, validated there)."""
        split_class, split_params = self.split_class(config.split)
        similar = None
        if config.similar is not None:
            constructor = SIMILAR_CONSTRUCTORS[config.similar.name](**config.similar.params)
            similar = SimilarSpec(constructor, seed=config.similar.seed, doses=config.similar.doses, heldout=config.similar.heldout)
        return ResolvedExperiment(
            config=config,
            dataset=self.datasets[config.dataset.name](**config.dataset.params),
            selector=self.selectors[config.forget.name](**config.forget.params),
            split_spec=split_class(**split_params),
            model_builder=self.models[config.model.name](**config.model.params),
            train_spec=self.train_spec(**config.train),
            methods=[(m.display_name, METHODS[m.name](**m.params)) for m in config.methods],
            metrics=[(m.name, METRICS[m.name](**m.params)) for m in config.metric_components()],
            population_metrics=[
                (population_label(c.name, c.params), POPULATION_METRICS[c.name](**c.params)) for c in config.population_components()
            ],
            similar=similar,
            forget_expansions={
                m.display_name: FORGET_EXPANSIONS[m.forget.name](**m.forget.params) for m in config.methods if m.forget is not None
            },
        )

    # -- data -----------------------------------------------------------------
    @abstractmethod
    def prepare(self, resolved: ResolvedExperiment, data: DataT) -> Prepared[DataT]:
        """The split and forget selection of loaded data (raises a user error when the request cannot be met)."""

    def reference_rows(self, prepared: Prepared[DataT], goal: str) -> np.ndarray:
        """Training rows of the reference: without the forget set (untraining) or its whole distribution (unlearning)."""
        split = prepared.split
        if goal == "unlearning":
            if split.forget_distribution is None:
                raise ValueError("goal 'unlearning' needs a selector that defines a forget distribution")
            return np.setdiff1d(split.train, split.forget_distribution)
        return split.retain

    def expand_forget(self, resolved: ResolvedExperiment, prepared: Prepared[DataT], label: str) -> Prepared[DataT]:
        """What method ``label`` unlearns: ``prepared`` itself, or with S expanded to S u N(S) by its ``forget`` entry.

        Only the split changes (the forget set grows, the retain set
        shrinks); the data, the reference models and what metrics read stay.
        """
        expansion = resolved.forget_expansions.get(label)
        if expansion is None:
            return prepared
        if prepared.source is None:
            raise InvalidParameterError(
                f"experiment {resolved.name!r}, method {label!r}: a {self.name} experiment has no similar samples to expand with"
            )
        split = expansion.expand(prepared.source, prepared.split, similar=prepared.similar)
        return replace(prepared, split=split)

    def stored_arrays(self, prepared: Prepared[DataT]) -> StoredArrays:
        """Arrays every model of the experiment stores with its outputs: with similar samples, each forget target's count."""
        if prepared.similar is None:
            return {}
        similar = prepared.similar
        if not np.array_equal(similar.targets, prepared.split.forget):
            raise ValueError("the similar samples' targets must be the forget set")
        return {"similar/count": similar.counts()}

    # -- models ---------------------------------------------------------------
    @abstractmethod
    def fit(
        self, resolved: ResolvedExperiment, prepared: Prepared[DataT], rows: np.ndarray, generator: torch.Generator,
        progress: Progress, description: str,
    ) -> tuple[nn.Module, dict[str, Any]]:
        """A new model trained from scratch on ``rows`` with the experiment's recipe, and its training log."""

    @abstractmethod
    def restore(
        self, resolved: ResolvedExperiment, prepared: Prepared[DataT], rows: np.ndarray, state: Mapping[str, torch.Tensor]
    ) -> nn.Module:
        """The model :meth:`fit` trained on ``rows``, rebuilt from its stored state dict."""

    def warm_up(self, model: nn.Module, prepared: Prepared[DataT]) -> None:
        """An untimed pass before every timed call, so no method pays the process's first-call costs."""
        self.outputs(model, prepared)

    # -- methods and evaluation -------------------------------------------------
    @abstractmethod
    def task(
        self, resolved: ResolvedExperiment, prepared: Prepared[DataT], generator: torch.Generator, progress: Progress
    ) -> Any:
        """The task object this kind's methods receive."""

    @abstractmethod
    def outputs(self, model: nn.Module, prepared: Prepared[DataT]) -> OutputsT:
        """One model's per-example outputs on every evaluated split."""

    @abstractmethod
    def stored_outputs(self, outputs: OutputsT, prepared: Prepared[DataT]) -> StoredOutputs:
        """``outputs`` as per-split (logits, labels) arrays for the store and population metrics."""

    @abstractmethod
    def metric_context(
        self,
        prepared: Prepared[DataT],
        evaluated: Evaluated[OutputsT],
        reference: Evaluated[OutputsT],
        original: Evaluated[OutputsT],
        seed: int,
    ) -> Any:
        """What this kind's metrics read about one model (and the reference and original)."""

    @abstractmethod
    def selection_gap(self, prepared: Prepared[DataT], outputs: OutputsT, reference: OutputsT, seed: int) -> float:
        """Distance to the reference in points, from forget, retain and validation data only (never test)."""
