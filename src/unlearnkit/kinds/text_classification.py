"""Text classification (``kind = "text_classification"``): the classification kind on token ids.

Why a kind of its own, and why a subclass: once documents are tokenised,
everything downstream is image classification's (the split recipe and
forget selectors read only labels and groups; training, per-example logits,
metrics and references are the same), so this kind reuses
:class:`~unlearnkit.kinds.classification.ClassificationKind` and replaces
only what differs: text datasets (:data:`~unlearnkit.data.text.TEXT_DATASETS`,
labelled), text models (:data:`~unlearnkit.models.text.TEXT_CLASSIFIERS`,
which own their tokeniser), similar samples made of text (paraphrases,
sentence-embedding neighbours), and the task's kind. The kind name is what
keeps input-perturbing image methods (UNSIR, boundary shrink, DLFD, ...)
away from token ids: methods declare ``text_classification`` only when they
read nothing but the model's outputs, features and parameters.

Preparation: the documents are split (seeded recipe, any classification
selector), similar samples are made or found on the text, and then every
document is tokenised by the model's tokeniser into a
:class:`~unlearnkit.data.ClassificationData` of int64 ids.
"""

from __future__ import annotations

from typing import Any, Literal

import torch

from unlearnkit.data.dataset import ClassificationData
from unlearnkit.data.text.dataset import TextData
from unlearnkit.data.text.registry import TEXT_DATASETS
from unlearnkit.errors import InvalidParameterError
from unlearnkit.kinds.base import Prepared, ResolvedExperiment
from unlearnkit.kinds.classification import ClassificationKind
from unlearnkit.kinds.schema import ExperimentFields
from unlearnkit.methods.base import TextClassificationTask, UnlearnTask
from unlearnkit.models.text.registry import TEXT_CLASSIFIERS
from unlearnkit.progress import Progress
from unlearnkit.registry import Registry


class TextClassificationExperimentConfig(ExperimentFields):
    kind: Literal["text_classification"]


class TextClassificationKind(ClassificationKind):
    name = "text_classification"
    description = "text classifiers (bag of embeddings over hashed n-grams); forget documents, classes or groups"
    config_model = TextClassificationExperimentConfig
    similar_modality = "text"

    @property
    def datasets(self) -> Registry[Any]:
        return TEXT_DATASETS

    @property
    def models(self) -> Registry[Any]:
        return TEXT_CLASSIFIERS

    @property
    def splits(self) -> Registry[Any]:
        return Registry("split", {"random": self.split_spec})

    def toy_config(self) -> dict[str, Any]:
        return {
            "kind": self.name,
            "name": "toy_text_classification",
            "seeds": [0],
            "dataset": {"name": "synthetic_text", "n_docs": 160, "n_films": 8},
            "split": {"test_fraction": 0.2, "validation_fraction": 0.1},
            "forget": {"name": "random", "count": 6},
            "similar": {"name": "paraphrase", "copies": 2},
            "model": {"name": "bag_of_embeddings", "dim": 8, "buckets": 1024, "ngrams": 1, "max_len": 24},
            "train": {"epochs": 8, "batch_size": 16, "lr": 0.5, "weight_decay": 0.0},
            "methods": [{"name": "retrain"}, {"name": "original"}],
            "metrics": ["retain_acc", "forget_acc"],
        }

    def prepare(  # type: ignore[override]  # it loads documents and trains on their token ids
        self, resolved: ResolvedExperiment, data: TextData
    ) -> Prepared[ClassificationData]:
        if data.y is None:
            raise InvalidParameterError(f"experiment {resolved.name!r}: text classification needs labelled documents; {data.name} has none")
        split = resolved.split_spec.build(data, resolved.selector)
        similar = None
        if resolved.similar is not None:
            built = resolved.similar.build(data, split)
            data, split, similar = built.data, built.split, built.similar
        if data.y is None:  # unreachable: copies carry their targets' labels
            raise InvalidParameterError("similar samples lost the labels")
        ids = resolved.model_builder.tokenizer().encode_batch(data.texts)
        tokens = ClassificationData(data.name, ids, data.y, data.groups, data.n_classes, data.group_name, data.test_mask)
        return Prepared(tokens, split, tokens.fingerprint, similar, data)

    def task(
        self, resolved: ResolvedExperiment, prepared: Prepared[ClassificationData], generator: torch.Generator, progress: Progress
    ) -> UnlearnTask:
        return TextClassificationTask(prepared.data, prepared.split, resolved.train_spec, resolved.model_builder, generator, progress)

