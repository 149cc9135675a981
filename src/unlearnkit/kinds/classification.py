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
from unlearnkit.data.splits import Split
from unlearnkit.data.splitting import SplitSpec
from unlearnkit.errors import SplitError
from unlearnkit.kinds.base import Evaluated, ExperimentKind, Prepared, ResolvedExperiment, StoredOutputs
from unlearnkit.kinds.schema import ExperimentFields
from unlearnkit.methods.base import UnlearnTask
from unlearnkit.metrics import functional as fn
from unlearnkit.metrics.base import SELECTION_SPLITS, SPLIT_NAMES, EvalContext, ModelOutputs, split_indices
from unlearnkit.metrics.oracle_free import OracleFreeCriteria, forgotten_label_rate, loss_distance, paired_standard_error
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


def _calibration_split(split: Split) -> str:
    """The never-trained samples of the forget set's distribution oracle-free selection compares it with."""
    return "validation" if split.forget_distribution is None else "heldout_forget_validation"


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
            # Group 2 keeps 2 never-trained validation-pool samples (what oracle-free selection compares with).
            "forget": {"name": "groups", "groups": [2]},
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
        heldout = self._has_heldout(config)
        # The validation pool's never-trained samples of the forget distribution exist only when the selector names one.
        selection = self._selector_distribution(config)
        return tuple(
            s for s in (*SPLIT_NAMES, *SELECTION_SPLITS) if (s != "heldout_forget" or heldout) and (s not in SELECTION_SPLITS or selection)
        )

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

    def check_oracle_free(self, resolved: ResolvedExperiment, prepared: Prepared[ClassificationData]) -> None:
        """Refuse a split with fewer than 2 calibration samples (see :meth:`oracle_free_criteria`) or no validation sample."""
        split = prepared.split
        calibration = _calibration_split(split)
        rows = split_indices(split, calibration)
        count = 0 if rows is None else int(rows.size)
        if count < 2 or split.validation.size == 0:
            raise SplitError(
                f"experiment {resolved.name!r}: oracle-free selection compares the forget set with never-trained samples of "
                f"its distribution ({calibration}: {count} in this split, 2 or more needed) and reads validation accuracy; "
                "raise split.validation_fraction"
            )

    def oracle_free_criteria(
        self, resolved: ResolvedExperiment, prepared: Prepared[ClassificationData], outputs: ModelOutputs,
        original: ModelOutputs,
    ) -> OracleFreeCriteria:
        """Forget vs calibration losses, forgotten-label predictions, validation and retain accuracy against the original's.

        Calibration: validation samples when the forget set is random samples
        of the training distribution; the never-trained samples of the forget
        distribution carved from the validation pool
        (``split.heldout_forget_validation``) when the selector names a
        distribution. Test and ``heldout_forget`` are never read.
        """
        self.check_oracle_free(resolved, prepared)
        calibration = _calibration_split(prepared.split)
        forget_losses = fn.per_example_loss(outputs.logits["forget"], outputs.labels["forget"])
        calibration_losses = fn.per_example_loss(outputs.logits[calibration], outputs.labels[calibration])
        ks, auc = loss_distance(forget_losses, calibration_losses, calibration)
        scored = ("forget", calibration)
        predictions = np.concatenate([outputs.logits[name].argmax(1).numpy() for name in scored])
        labels = np.concatenate([outputs.labels[name].numpy() for name in scored])
        reference_labels = prepared.data.y[torch.as_tensor(self.reference_rows(prepared, resolved.config.goal))].numpy()
        correct, was_correct = (out.logits["validation"].argmax(1) == out.labels["validation"] for out in (outputs, original))
        return OracleFreeCriteria(
            loss_ks=ks,
            mia_auc=auc,
            forgotten_label_rate=forgotten_label_rate(predictions, labels, reference_labels),
            validation_utility=fn.accuracy(outputs.logits["validation"], outputs.labels["validation"]),
            original_validation_utility=fn.accuracy(original.logits["validation"], original.labels["validation"]),
            retain_utility=fn.accuracy(outputs.logits["retain"], outputs.labels["retain"]),
            original_retain_utility=fn.accuracy(original.logits["retain"], original.labels["retain"]),
            n_forget=len(forget_losses),
            n_calibration=len(calibration_losses),
            validation_noise=paired_standard_error((correct.float() - was_correct.float()).numpy()),
        )
