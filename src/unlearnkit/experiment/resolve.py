"""From a validated configuration to components, and to the keys that identify runs."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from unlearnkit import __version__
from unlearnkit.data.registry import DATASETS, SELECTORS
from unlearnkit.data.selectors import ForgetSelector
from unlearnkit.data.sources.base import DatasetSource
from unlearnkit.data.splitting import SplitSpec
from unlearnkit.methods.base import UnlearningMethod
from unlearnkit.methods.registry import METHODS
from unlearnkit.metrics.base import Metric
from unlearnkit.metrics.population_metrics import PopulationMetric
from unlearnkit.metrics.registry import METRICS, POPULATION_METRICS
from unlearnkit.models.base import ModelBuilder
from unlearnkit.models.registry import MODELS
from unlearnkit.params import Configurable
from unlearnkit.registry import Registry
from unlearnkit.training.loop import TrainSpec

if TYPE_CHECKING:
    from unlearnkit.experiment.config import ExperimentConfig


def stable_hash(payload: Any) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:20]


def derive_seed(seed: int, purpose: str) -> int:
    """Independent seeds for independent purposes (original training, unlearning) from one run seed."""
    return int(stable_hash([seed, purpose]), 16) % (2**31 - 1)


def reference_key(setting: dict[str, Any], metrics: list[Any], seed: int, version: str) -> str:
    """Key of the stored reference of one (setting, metric list, seed).

    The report derives it from a stored run's ``config`` (which holds the
    same ``setting`` and ``metrics``), so both must hash identically after a
    JSON round trip: they contain only JSON types.
    """
    return stable_hash(["reference", setting, metrics, seed, version])


def _component_problems(registry: Registry[Any], name: str, params: dict[str, Any], where: str) -> list[str]:
    if name not in registry:
        return [f"{where}.name: unknown {registry.kind} {name!r}; registered {registry.kind}s: {', '.join(registry)}"]
    cls: type[Configurable] = registry[name]
    return cls.parameter_problems(params, where)


def semantic_problems(experiment: ExperimentConfig, where: str) -> list[str]:
    """Every problem with the meaning of one structurally valid experiment."""
    problems = []
    problems += _component_problems(DATASETS, experiment.dataset.name, experiment.dataset.params, f"{where}.dataset")
    problems += _component_problems(SELECTORS, experiment.forget.name, experiment.forget.params, f"{where}.forget")
    problems += _component_problems(MODELS, experiment.model.name, experiment.model.params, f"{where}.model")
    problems += SplitSpec.parameter_problems(experiment.split, f"{where}.split")
    problems += TrainSpec.parameter_problems(experiment.train, f"{where}.train")
    for index, method in enumerate(experiment.methods):
        at = f"{where}.methods[{index}]"
        problems += _component_problems(METHODS, method.name, method.params, at)
        if method.name in METHODS and "classification" not in METHODS[method.name].task_kinds:
            problems.append(f"{at}.name: {method.name!r} is a method for {sorted(METHODS[method.name].task_kinds)} tasks")
    has_distribution = experiment.forget.name in SELECTORS and SELECTORS[experiment.forget.name].defines_distribution
    for index, metric in enumerate(experiment.metric_components()):
        at = f"{where}.metrics[{index}]"
        problems += _component_problems(METRICS, metric.name, metric.params, at)
        if metric.name in METRICS and "classification" not in METRICS[metric.name].task_kinds:
            problems.append(f"{at}.name: {metric.name!r} is a metric for {sorted(METRICS[metric.name].task_kinds)} experiments")
        if metric.name in METRICS and "heldout_forget" in METRICS[metric.name].requires_splits and not has_distribution:
            problems.append(
                f"{at}: {metric.name!r} needs held-out samples of the forget distribution, which only a selector "
                f"defining a distribution provides; {experiment.forget.name!r} does not"
            )
    problems += _population_problems(experiment, where, has_distribution)
    if experiment.goal == "unlearning" and experiment.forget.name in SELECTORS:
        selector = SELECTORS[experiment.forget.name]
        if not selector.defines_distribution:
            defining = [n for n in SELECTORS if SELECTORS[n].defines_distribution]
            problems.append(
                f"{where}.forget.name: goal 'unlearning' needs a selector that defines a forget distribution "
                f"({', '.join(defining)}); {experiment.forget.name!r} selects individual samples"
            )
    return problems


def population_metrics(components: list[Any]) -> list[tuple[str, PopulationMetric]]:
    """``(column label, metric)`` for validated population-metric components."""
    return [(population_label(c.name, c.params), POPULATION_METRICS[c.name].from_params(c.params)) for c in components]


def population_label(name: str, params: dict[str, Any]) -> str:
    """Column name of a population metric: its name, plus the parameters given, e.g. ``klom[split=test]``."""
    if not params:
        return name
    return f"{name}[{','.join(f'{k}={v}' for k, v in sorted(params.items()))}]"


def _population_problems(experiment: ExperimentConfig, where: str, has_distribution: bool) -> list[str]:
    components = experiment.population_components()
    if not components:
        return []
    problems = []
    if len(experiment.seeds) < 2:
        problems.append(
            f"{where}.population_metrics: population metrics compare N unlearned with N reference models and need "
            f"at least 2 seeds (8 or more to mean much); seeds = {experiment.seeds}"
        )
    labels = []
    for index, metric in enumerate(components):
        at = f"{where}.population_metrics[{index}]"
        found = _component_problems(POPULATION_METRICS, metric.name, metric.params, at)
        problems += found
        if found:
            continue
        labels.append(population_label(metric.name, metric.params))
        instance = POPULATION_METRICS[metric.name].from_params(metric.params)
        if instance.split_name == "heldout_forget" and not has_distribution:
            problems.append(
                f"{at}: the 'heldout_forget' split exists only with a selector defining a forget distribution; "
                f"{experiment.forget.name!r} does not"
            )
    problems += [f"{where}.population_metrics: {label!r} is listed twice" for label in sorted({x for x in labels if labels.count(x) > 1})]
    return problems


@dataclass(frozen=True)
class ResolvedExperiment:
    """Components built from a validated :class:`ExperimentConfig`."""

    config: ExperimentConfig
    dataset: DatasetSource
    selector: ForgetSelector
    split_spec: SplitSpec
    model_builder: ModelBuilder
    train_spec: TrainSpec
    methods: list[tuple[str, UnlearningMethod]]
    metrics: list[tuple[str, Metric]]
    population_metrics: list[tuple[str, PopulationMetric]]

    @classmethod
    def build(cls, config: ExperimentConfig) -> ResolvedExperiment:
        return cls(
            config=config,
            dataset=DATASETS[config.dataset.name].from_params(config.dataset.params),
            selector=SELECTORS[config.forget.name].from_params(config.forget.params),
            split_spec=SplitSpec.from_params(config.split),
            model_builder=MODELS[config.model.name].from_params(config.model.params),
            train_spec=TrainSpec.from_params(config.train),
            methods=[(m.display_name, METHODS[m.name].from_params(m.params)) for m in config.methods],
            metrics=[(m.name, METRICS[m.name].from_params(m.params)) for m in config.metric_components()],
            population_metrics=population_metrics(config.population_components()),
        )

    def setting(self) -> dict[str, Any]:
        """Everything that determines the original model, the split and the reference (all defaults filled in)."""
        return {
            "goal": self.config.goal,
            "dataset": [self.config.dataset.name, self.dataset.get_params()],
            "forget": [self.config.forget.name, self.selector.get_params()],
            "split": self.split_spec.get_params(),
            "model": [self.config.model.name, self.model_builder.get_params()],
            "train": self.train_spec.get_params(),
        }

    def run_config(self, label: str, method: UnlearningMethod, seed: int) -> dict[str, Any]:
        return {
            "experiment": self.config.name,
            "setting": self.setting(),
            "method": [type(method).__name__, label, method.get_params()],
            "metrics": self.metric_params(),
            "seed": seed,
        }

    def metric_params(self) -> list[list[Any]]:
        return [[name, metric.get_params()] for name, metric in self.metrics]

    def reference_config(self, seed: int) -> dict[str, Any]:
        return {"experiment": self.config.name, "setting": self.setting(), "metrics": self.metric_params(), "seed": seed}

    def reference_key(self, seed: int) -> str:
        return reference_key(self.setting(), self.metric_params(), seed, __version__)

    def run_key(self, label: str, method: UnlearningMethod, seed: int) -> str:
        return stable_hash([self.run_config(label, method, seed), __version__])
