"""Image classification: the default kind (``kind = "classification"``, or no ``kind`` key).

Data are :class:`~unlearnkit.data.ClassificationData` (images, labels,
groups); the forget selector picks training samples and may name a whole
distribution (a class, an identity), whose never-trained samples form the
held-out forget split the "unlearning" goal is judged on. A ``similar``
table adds near-copies of the forget samples to the training set (or
records existing neighbours); the forget distribution is then S u N(S), so
under "unlearning" the reference is retraining without the copies too while
the ``retrain`` method still retrains on D minus S (the seed's two oracles). Models are
:class:`~unlearnkit.models.Classifier` builders; originals and references
share one :class:`~unlearnkit.training.TrainSpec`. Per-example outputs are
the logits on every split.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Literal

import numpy as np
import torch
from torch import nn

from unlearnkit.data.dataset import ClassificationData
from unlearnkit.data.registry import DATASETS, SELECTORS, SPLITS
from unlearnkit.data.splitting import SplitSpec
from unlearnkit.kinds.base import Evaluated, ExperimentKind, Prepared, ResolvedExperiment, StoredOutputs
from unlearnkit.kinds.schema import ExperimentFields
from unlearnkit.methods.base import UnlearnTask
from unlearnkit.metrics import functional as fn
from unlearnkit.metrics.base import SPLIT_NAMES, EvalContext, ModelOutputs
from unlearnkit.metrics.registry import METRICS
from unlearnkit.models.registry import MODELS
from unlearnkit.params import Configurable
from unlearnkit.progress import Progress
from unlearnkit.registry import Registry
from unlearnkit.training.loop import TrainSpec, train_model


class ClassificationExperimentConfig(ExperimentFields):
    kind: Literal["classification"] = "classification"


def selection_gap(outputs: ModelOutputs, reference: ModelOutputs, seed: int = 0) -> float:
    """Mean |difference to the reference| in points over forget, retain, validation accuracy and a validation MIA.

    The MIA is MIA-efficacy with validation samples as the non-members, so
    no test sample is involved.
    """

    def components(out: ModelOutputs) -> dict[str, float]:
        n = min(len(out.labels["retain"]), len(out.labels["validation"]))
        pick = np.random.default_rng(seed).permutation(len(out.labels["retain"]))[:n]
        return {
            "forget_acc": fn.accuracy(out.logits["forget"], out.labels["forget"]),
            "retain_acc": fn.accuracy(out.logits["retain"], out.labels["retain"]),
            "validation_acc": fn.accuracy(out.logits["validation"], out.labels["validation"]),
            "mia_efficacy": fn.mia_efficacy(
                fn.true_class_confidence(out.logits["retain"][pick], out.labels["retain"][pick]),
                fn.true_class_confidence(out.logits["validation"], out.labels["validation"]),
                fn.true_class_confidence(out.logits["forget"], out.labels["forget"]),
            ),
        }

    keys = ("forget_acc", "retain_acc", "validation_acc", "mia_efficacy")
    return fn.avg_gap(components(outputs), components(reference), keys)


class ClassificationKind(ExperimentKind[ClassificationData, ModelOutputs]):
    name = "classification"
    description = "image classifiers; forget samples, classes or identities"
    config_model: ClassVar[type[ExperimentFields]] = ClassificationExperimentConfig
    similar_modality = "image"

    @property
    def datasets(self) -> Registry[Any]:
        return DATASETS

    @property
    def selectors(self) -> Registry[Any]:
        return SELECTORS

    @property
    def models(self) -> Registry[Any]:
        return MODELS

    @property
    def splits(self) -> Registry[Any]:
        return SPLITS

    @property
    def split_spec(self) -> type[Configurable]:
        return SplitSpec

    @property
    def train_spec(self) -> type[Configurable]:
        return TrainSpec

    def toy_config(self) -> dict[str, Any]:
        return {
            "kind": self.name,
            "name": "toy_classification",
            "seeds": [0],
            "dataset": {"name": "synthetic", "n_classes": 4, "groups_per_class": 4, "samples_per_group": 10, "size": 8, "noise": 1.0},
            "split": {"test_per_group": 3, "validation_fraction": 0.1},
            "forget": {"name": "groups", "groups": [1]},
            "model": {"name": "cnn", "channels": 4, "hidden": 16},
            "train": {"epochs": 15, "batch_size": 16, "lr": 0.05},
            "methods": [{"name": "retrain"}, {"name": "original"}],
            "metrics": ["retain_acc", "forget_acc"],
        }

    def _selector_distribution(self, config: ExperimentFields) -> bool:
        return config.forget.name in SELECTORS and bool(SELECTORS[config.forget.name].defines_distribution)

    def _defines_distribution(self, config: ExperimentFields) -> bool:
        """A class or identity selector, or similar samples (the distribution S u N(S))."""
        return self._selector_distribution(config) or config.similar is not None

    def _has_heldout(self, config: ExperimentFields) -> bool:
        """Never-trained samples of the forget distribution: the selector's unseen ones, or held-out copies."""
        return self._selector_distribution(config) or (config.similar is not None and config.similar.heldout > 0)

    def stored_splits(self, config: ExperimentFields) -> tuple[str, ...]:
        return tuple(s for s in SPLIT_NAMES if s != "heldout_forget" or self._has_heldout(config))

    def extra_problems(self, config: ExperimentFields, where: str) -> list[str]:
        problems = []
        for index, metric in enumerate(config.metric_components()):
            valid = metric.name in METRICS and not METRICS[metric.name].parameter_problems(metric.params, "")
            needs_heldout = valid and "heldout_forget" in METRICS[metric.name](**metric.params).needed_splits()
            if needs_heldout and not self._has_heldout(config):
                problems.append(
                    f"{where}.metrics[{index}]: {metric.name!r} needs held-out samples of the forget distribution, which a selector "
                    f"defining a distribution or `similar` with heldout > 0 provides; this experiment has neither"
                )
        if config.goal == "unlearning" and config.forget.name in SELECTORS and not self._defines_distribution(config):
            defining = [n for n in SELECTORS if SELECTORS[n].defines_distribution]
            problems.append(
                f"{where}.forget.name: goal 'unlearning' needs a forget distribution: a selector that defines one "
                f"({', '.join(defining)}) or similar samples (a `similar` table); {config.forget.name!r} selects individual samples"
            )
        return problems

    def prepare(self, resolved: ResolvedExperiment, data: ClassificationData) -> Prepared[ClassificationData]:
        split = resolved.split_spec.build(data, resolved.selector)
        if resolved.similar is None:
            return Prepared(data, split, data.fingerprint)
        built = resolved.similar.build(data, split)
        return Prepared(built.data, built.split, built.data.fingerprint, built.similar, built.data)

    def fit(
        self, resolved: ResolvedExperiment, prepared: Prepared[ClassificationData], rows: np.ndarray,
        generator: torch.Generator, progress: Progress, description: str,
    ) -> tuple[nn.Module, dict[str, Any]]:
        data = prepared.data
        model = resolved.model_builder.build(data.meta, generator)
        index = torch.as_tensor(rows)
        log = train_model(model, data.x[index], data.y[index], resolved.train_spec, generator, progress=progress, description=description)
        model.eval()
        return model, {"train_accuracy": log.train_accuracy, "train_loss": log.train_loss, "n_train": int(len(rows))}

    def restore(
        self, resolved: ResolvedExperiment, prepared: Prepared[ClassificationData], rows: np.ndarray,
        state: Mapping[str, torch.Tensor],
    ) -> nn.Module:
        # The generator only fills parameters that load_state_dict overwrites.
        model: nn.Module = resolved.model_builder.build(prepared.data.meta, torch.Generator().manual_seed(0))
        model.load_state_dict(state)
        model.eval()
        return model

    def task(
        self, resolved: ResolvedExperiment, prepared: Prepared[ClassificationData], generator: torch.Generator,
        progress: Progress,
    ) -> UnlearnTask:
        return UnlearnTask(prepared.data, prepared.split, resolved.train_spec, resolved.model_builder, generator, progress)

    def outputs(self, model: nn.Module, prepared: Prepared[ClassificationData]) -> ModelOutputs:
        return ModelOutputs.compute(model, prepared.data, prepared.split)

    def stored_outputs(self, outputs: ModelOutputs, prepared: Prepared[ClassificationData]) -> StoredOutputs:
        return {name: (outputs.logits[name].numpy(), outputs.labels[name].numpy()) for name in outputs.logits}

    def metric_context(
        self,
        prepared: Prepared[ClassificationData],
        evaluated: Evaluated[ModelOutputs],
        reference: Evaluated[ModelOutputs],
        original: Evaluated[ModelOutputs],
        seed: int,
    ) -> EvalContext:
        return EvalContext(
            evaluated.outputs, evaluated.seconds, reference.outputs, reference.seconds, seed, evaluated.model,
            prepared.data, prepared.split, peak_memory_mib=evaluated.peak_memory_mib,
        )

    def selection_gap(
        self, prepared: Prepared[ClassificationData], outputs: ModelOutputs, reference: ModelOutputs, seed: int
    ) -> float:
        return selection_gap(outputs, reference, seed)
