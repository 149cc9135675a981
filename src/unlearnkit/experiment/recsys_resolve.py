"""Recommendation experiments: meaning checks, components, and the keys that identify runs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from unlearnkit import __version__
from unlearnkit.data.recsys.selectors import InteractionSelector
from unlearnkit.data.recsys.sources import InteractionSource
from unlearnkit.data.recsys.splitting import InteractionSplitSpec
from unlearnkit.data.registry import INTERACTION_DATASETS, INTERACTION_SELECTORS
from unlearnkit.experiment.resolve import stable_hash
from unlearnkit.methods.recsys.task import RecommendationMethod
from unlearnkit.methods.registry import METHODS
from unlearnkit.metrics.base import Metric
from unlearnkit.metrics.registry import METRICS
from unlearnkit.models.recsys.embedding import RecommenderBuilder
from unlearnkit.models.registry import RECOMMENDERS
from unlearnkit.params import Configurable
from unlearnkit.registry import Registry
from unlearnkit.training.recsys import RecTrainSpec

if TYPE_CHECKING:
    from unlearnkit.experiment.recsys_config import RecommendationExperimentConfig

KIND = "recommendation"


def _component_problems(registry: Registry[Any], name: str, params: dict[str, Any], where: str) -> list[str]:
    if name not in registry:
        return [f"{where}.name: unknown {registry.kind} {name!r}; registered {registry.kind}s: {', '.join(registry)}"]
    cls: type[Configurable] = registry[name]
    return cls.parameter_problems(params, where)


def _kind_problems(registry: Registry[Any], name: str, where: str) -> list[str]:
    """A registered method/metric that is not for recommendation experiments."""
    if name not in registry:
        return []
    kinds = getattr(registry[name], "task_kinds", frozenset({"classification"}))
    if KIND in kinds:
        return []
    usable = [n for n in registry if KIND in getattr(registry[n], "task_kinds", frozenset())]
    return [f"{where}.name: {name!r} is a {registry.kind} for {sorted(kinds)} experiments; for recommendation use one of {', '.join(usable)}"]


def recommendation_problems(experiment: RecommendationExperimentConfig, where: str) -> list[str]:
    """Every problem with the meaning of one structurally valid recommendation experiment."""
    problems = []
    problems += _component_problems(INTERACTION_DATASETS, experiment.dataset.name, experiment.dataset.params, f"{where}.dataset")
    problems += _component_problems(INTERACTION_SELECTORS, experiment.forget.name, experiment.forget.params, f"{where}.forget")
    problems += _component_problems(RECOMMENDERS, experiment.model.name, experiment.model.params, f"{where}.model")
    problems += InteractionSplitSpec.parameter_problems(experiment.split, f"{where}.split")
    problems += RecTrainSpec.parameter_problems(experiment.train, f"{where}.train")
    for index, method in enumerate(experiment.methods):
        at = f"{where}.methods[{index}]"
        problems += _component_problems(METHODS, method.name, method.params, at)
        problems += _kind_problems(METHODS, method.name, at)
    for index, metric in enumerate(experiment.metric_components()):
        at = f"{where}.metrics[{index}]"
        problems += _component_problems(METRICS, metric.name, metric.params, at)
        problems += _kind_problems(METRICS, metric.name, at)
    return problems


@dataclass(frozen=True)
class ResolvedRecommendation:
    """Components built from a validated :class:`RecommendationExperimentConfig`."""

    config: RecommendationExperimentConfig
    dataset: InteractionSource
    selector: InteractionSelector
    split_spec: InteractionSplitSpec
    model_builder: RecommenderBuilder
    train_spec: RecTrainSpec
    methods: list[tuple[str, RecommendationMethod]]
    metrics: list[tuple[str, Metric]]

    @classmethod
    def build(cls, config: RecommendationExperimentConfig) -> ResolvedRecommendation:
        return cls(
            config=config,
            dataset=INTERACTION_DATASETS[config.dataset.name].from_params(config.dataset.params),
            selector=INTERACTION_SELECTORS[config.forget.name].from_params(config.forget.params),
            split_spec=InteractionSplitSpec.from_params(config.split),
            model_builder=RECOMMENDERS[config.model.name].from_params(config.model.params),
            train_spec=RecTrainSpec.from_params(config.train),
            methods=[(m.display_name, METHODS[m.name].from_params(m.params)) for m in config.methods],
            metrics=[(m.name, METRICS[m.name].from_params(m.params)) for m in config.metric_components()],
        )

    def data_key(self) -> str:
        return stable_hash([self.config.dataset.name, self.dataset.get_params()])

    def setting(self) -> dict[str, Any]:
        """Everything that determines the data, the split, the originals and the reference (defaults filled in)."""
        return {
            "kind": KIND,
            "goal": self.config.goal,
            "dataset": [self.config.dataset.name, self.dataset.get_params()],
            "forget": [self.config.forget.name, self.selector.get_params()],
            "split": self.split_spec.get_params(),
            "model": [self.config.model.name, self.model_builder.get_params()],
            "train": self.train_spec.get_params(),
        }

    def run_config(self, label: str, method: RecommendationMethod, seed: int) -> dict[str, Any]:
        return {
            "experiment": self.config.name,
            "setting": self.setting(),
            "method": [type(method).__name__, label, method.get_params()],
            "metrics": [[name, metric.get_params()] for name, metric in self.metrics],
            "seed": seed,
        }

    def run_key(self, label: str, method: RecommendationMethod, seed: int) -> str:
        return stable_hash([self.run_config(label, method, seed), __version__])
