"""Causal language models trained from scratch (``kind = "language_model"``), with canaries to forget.

Why a kind of its own: the model is trained and scored on documents, not
on (input, label) pairs, and its forget set is inserted into the data (the
canaries). Data: a text dataset without labels plus question-answer
canaries (:class:`~unlearnkit.data.text.corpus.InsertCanaries`, the only
selector: the deletion request names the canaries); ``similar`` paraphrases
them (the paraphrases carry the same name and secret) and
:class:`~unlearnkit.data.text.corpus.CorpusSplitSpec` carves validation and
test documents. Model: :class:`~unlearnkit.models.text.TinyGPT` over bytes;
recipe: :class:`~unlearnkit.training.language_model.LMTrainSpec`.

Per-example outputs: each document's mean negative log-likelihood per token
l (nats), on every split, stored as the two-class logits
``[log(1 - e^-l), -l]`` with label 1. Their cross-entropy is l and their
true-class probability e^-l, so the loss-based metrics (``target_loss``,
``target_mia``, ``test_loss``) and the population metrics (KLoM's margin and
U-MIA's logit-scaled confidence are both decreasing functions of l) read
them like a classifier's; accuracy-based metrics do not apply and are not
declared for this kind. ``exposure`` scores the forget canaries with the
model itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

from unlearnkit.data.text.canaries import as_corpus
from unlearnkit.data.text.corpus import Corpus, CorpusSplitSpec, InsertCanaries
from unlearnkit.data.text.dataset import TextData
from unlearnkit.data.text.registry import TEXT_DATASETS
from unlearnkit.data.text.tokenize import ByteTokenizer
from unlearnkit.kinds.base import Evaluated, ExperimentKind, Prepared, ResolvedExperiment, StoredOutputs
from unlearnkit.kinds.schema import ExperimentFields
from unlearnkit.methods.language_model import LanguageModelTask
from unlearnkit.metrics.base import SPLIT_NAMES, ModelOutputs, split_indices
from unlearnkit.metrics.language_model import LMEvalContext
from unlearnkit.models.text.registry import LANGUAGE_MODELS
from unlearnkit.params import Configurable
from unlearnkit.progress import Progress
from unlearnkit.registry import Registry
from unlearnkit.training.language_model import LMTrainSpec, sequence_losses, train_language_model

CORPUS_SELECTORS: Registry[type[InsertCanaries]] = Registry("corpus selector", {"canaries": InsertCanaries})

MIN_LOSS = 1e-6  # nats; log(1 - e^-l) is -inf at l = 0


class LanguageModelExperimentConfig(ExperimentFields):
    kind: Literal["language_model"]


def loss_logits(losses: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-document losses l as two-class logits ``[log(1 - e^-l), -l]`` (float32) and labels 1 (see the module docstring)."""
    loss = torch.as_tensor(np.maximum(losses, MIN_LOSS), dtype=torch.float64)
    logits = torch.stack([torch.log(-torch.expm1(-loss)), -loss], dim=1).float()
    return logits, torch.ones(len(loss), dtype=torch.long)


class LanguageModelKind(ExperimentKind[Corpus, ModelOutputs]):
    name = "language_model"
    description = "small causal language models trained from scratch on text with inserted canaries; forget the canaries"
    config_model = LanguageModelExperimentConfig
    similar_modality = "text"

    @property
    def datasets(self) -> Registry[Any]:
        return TEXT_DATASETS

    @property
    def selectors(self) -> Registry[Any]:
        return CORPUS_SELECTORS

    @property
    def models(self) -> Registry[Any]:
        return LANGUAGE_MODELS

    @property
    def split_spec(self) -> type[Configurable]:
        return CorpusSplitSpec

    @property
    def train_spec(self) -> type[Configurable]:
        return LMTrainSpec

    def toy_config(self) -> dict[str, Any]:
        return {
            "kind": self.name,
            "name": "toy_language_model",
            "seeds": [0],
            "dataset": {"name": "synthetic_text", "n_docs": 120, "n_films": 6},
            "split": {"validation_fraction": 0.1, "test_fraction": 0.15},
            "forget": {"name": "canaries", "count": 4, "heldout": 3, "digits": 4},
            "similar": {"name": "paraphrase", "copies": 2},
            "model": {"name": "tiny_gpt", "n_layer": 1, "d_model": 16, "n_head": 2, "context": 64},
            "train": {"epochs": 2, "batch_size": 16, "lr": 0.01, "warmup_steps": 2},
            "methods": [{"name": "retrain_lm"}, {"name": "original_lm"}],
            "metrics": ["target_loss", "test_loss"],
        }

    def stored_splits(self, config: ExperimentFields) -> tuple[str, ...]:
        heldout = bool(config.forget.params.get("heldout", 0)) or (config.similar is not None and config.similar.heldout > 0)
        return tuple(s for s in SPLIT_NAMES if s != "heldout_forget" or heldout)

    # -- data -----------------------------------------------------------------
    def prepare(self, resolved: ResolvedExperiment, data: TextData) -> Prepared[Corpus]:  # type: ignore[override]  # loads text, trains on a corpus
        corpus = as_corpus(data)
        generator = torch.Generator().manual_seed(resolved.split_spec.seed)
        inserted = resolved.selector.insert(corpus, generator)
        split = resolved.split_spec.build(len(corpus), inserted, generator)
        text, similar = inserted.text, None
        if resolved.similar is not None:
            built = resolved.similar.build(text, split)
            text, split, similar = built.data, built.split, built.similar
        prepared = Corpus.tokenise(text, inserted.canaries)
        return Prepared(prepared, split, prepared.fingerprint, similar, text)

    # -- models ---------------------------------------------------------------
    def fit(
        self, resolved: ResolvedExperiment, prepared: Prepared[Corpus], rows: np.ndarray, generator: torch.Generator,
        progress: Progress, description: str,
    ) -> tuple[nn.Module, dict[str, Any]]:
        model = resolved.model_builder.build(ByteTokenizer.vocab_size, generator)
        documents = prepared.data.take(rows)
        log = train_language_model(model, documents, resolved.train_spec, generator, progress=progress, description=description)
        model.eval()
        return model, {"final_loss": log.final_loss, "steps": log.steps, "tokens": log.tokens, "n_train": int(len(rows))}

    def restore(
        self, resolved: ResolvedExperiment, prepared: Prepared[Corpus], rows: np.ndarray, state: Mapping[str, torch.Tensor]
    ) -> nn.Module:
        model: nn.Module = resolved.model_builder.build(ByteTokenizer.vocab_size, torch.Generator().manual_seed(0))
        model.load_state_dict(state)
        model.eval()
        return model

    def warm_up(self, model: nn.Module, prepared: Prepared[Corpus]) -> None:
        """One scoring pass over the forget documents (the full outputs would cost seconds per call)."""
        sequence_losses(model, prepared.data.take(prepared.split.forget))  # type: ignore[arg-type]  # a CausalLM, built by fit

    # -- methods and evaluation -------------------------------------------------
    def task(
        self, resolved: ResolvedExperiment, prepared: Prepared[Corpus], generator: torch.Generator, progress: Progress
    ) -> LanguageModelTask:
        return LanguageModelTask(prepared.data, prepared.split, resolved.train_spec, resolved.model_builder, generator, progress)

    def outputs(self, model: nn.Module, prepared: Prepared[Corpus]) -> ModelOutputs:
        logits, labels = {}, {}
        for name in SPLIT_NAMES:
            rows = split_indices(prepared.split, name)
            if rows is not None and rows.size:
                losses = sequence_losses(model, prepared.data.take(rows))  # type: ignore[arg-type]  # a CausalLM, built by fit
                logits[name], labels[name] = loss_logits(losses)
        return ModelOutputs(logits, labels)

    def stored_outputs(self, outputs: ModelOutputs, prepared: Prepared[Corpus]) -> StoredOutputs:
        return {name: (outputs.logits[name].numpy(), outputs.labels[name].numpy()) for name in outputs.logits}

    def metric_context(
        self,
        prepared: Prepared[Corpus],
        evaluated: Evaluated[ModelOutputs],
        reference: Evaluated[ModelOutputs],
        original: Evaluated[ModelOutputs],
        seed: int,
    ) -> LMEvalContext:
        forget = prepared.split.forget
        canaries = prepared.data.canaries_of(forget) if all(int(r) in prepared.data.canaries for r in forget) else []
        return LMEvalContext(
            evaluated.outputs, evaluated.seconds, reference.outputs, reference.seconds, seed, evaluated.model,
            None, prepared.split, peak_memory_mib=evaluated.peak_memory_mib, canaries=canaries,
        )

    def selection_gap(self, prepared: Prepared[Corpus], outputs: ModelOutputs, reference: ModelOutputs, seed: int) -> float:
        """Mean |difference to the reference| of the forget and validation documents' mean loss, in hundredths of a nat.

        The validation loss is the utility a recipe may not lose; the forget
        documents' loss is where unlearning acts. No test document is read.
        """

        def mean_loss(out: ModelOutputs, split: str) -> float:
            return float(-torch.log(torch.softmax(out.logits[split].double(), 1)[:, 1]).mean())

        gaps = [abs(mean_loss(outputs, s) - mean_loss(reference, s)) for s in ("forget", "validation")]
        return 100.0 * float(np.mean(gaps))
