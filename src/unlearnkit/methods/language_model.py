"""Methods for causal language models (kind "language_model"): retraining, doing nothing, fine-tuning, gradient ascent.

A :class:`LanguageModelTask` holds the corpus (byte-tokenised documents),
the split, the original's recipe (:class:`~unlearnkit.training.language_model.LMTrainSpec`)
and builder, and the seeded generator. The forget set names documents (the
canaries); the retain set is every other training document.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from unlearnkit.data.splits import Split
from unlearnkit.data.text.corpus import Corpus
from unlearnkit.data.text.tokenize import ByteTokenizer
from unlearnkit.methods.base import UnlearningMethod
from unlearnkit.models.text.gpt import CausalLM, TinyGPT
from unlearnkit.params import Interval
from unlearnkit.progress import Progress, SilentProgress
from unlearnkit.training.language_model import LMTrainSpec, adamw, chunk_loss, epoch_chunks, train_language_model

KIND = "language_model"


@dataclass(frozen=True, eq=False)
class LanguageModelTask:
    """Everything a language-model method may use (the analogue of :class:`~unlearnkit.methods.base.UnlearnTask`)."""

    data: Corpus
    split: Split
    train_spec: LMTrainSpec
    model_builder: TinyGPT
    generator: torch.Generator
    progress: Progress = field(default_factory=SilentProgress)
    time_budget: float | None = None

    kind: ClassVar[str] = KIND

    @cached_property
    def retain_documents(self) -> list[torch.Tensor]:
        return self.data.take(self.split.retain)

    @cached_property
    def forget_documents(self) -> list[torch.Tensor]:
        return self.data.take(self.split.forget)


def _causal_lm(model: nn.Module) -> CausalLM:
    if not isinstance(model, CausalLM):
        raise TypeError(f"language-model methods unlearn a CausalLM; got {type(model).__name__}")
    return model


class RetrainLM(UnlearningMethod):
    """Exact unlearning: train a new model from scratch on the retained documents with the original's recipe."""

    description = "retrain the language model from scratch on the retained documents (exact)"
    task_kinds = frozenset({KIND})
    role = "retrain"
    empty_forget = "run"

    def _unlearn(self, model: nn.Module, task: LanguageModelTask) -> tuple[nn.Module, dict[str, Any]]:
        fresh = task.model_builder.build(ByteTokenizer.vocab_size, task.generator)
        log = train_language_model(
            fresh, task.retain_documents, task.train_spec, task.generator, progress=task.progress, description="RetrainLM"
        )
        return fresh, {"final_loss": log.final_loss, "steps": log.steps}


class OriginalLM(UnlearningMethod):
    """Do nothing: the original language model (how much there is to forget)."""

    description = "do nothing (the original language model)"
    task_kinds = frozenset({KIND})
    role = "original"

    def _unlearn(self, model: nn.Module, task: LanguageModelTask) -> tuple[nn.Module, dict[str, Any]]:
        return model, {}


class FinetuneLM(UnlearningMethod):
    """Continue training on the retained documents only (catastrophic forgetting of the rest).

    AdamW at ``lr`` with cosine decay to 10 % over ``epochs`` passes over the
    retained documents (chunked as in training), gradient clipping at 1.
    """

    description = "fine-tune the language model on the retained documents"
    task_kinds = frozenset({KIND})
    parameter_constraints = {
        "lr": Interval(float, 0.0, None, "neither"),
        "epochs": Interval(int, 1, 1000),
        "batch_size": Interval(int, 1, None),
        "weight_decay": Interval(float, 0.0, None),
    }
    search_space = {"lr": [3e-4, 1e-3, 3e-3], "epochs": [1, 2, 3]}

    def __init__(self, *, lr: float = 1e-3, epochs: int = 1, batch_size: int = 32, weight_decay: float = 0.1) -> None:
        self.lr = lr
        self.epochs = epochs
        self.batch_size = batch_size
        self.weight_decay = weight_decay

    def _unlearn(self, model: nn.Module, task: LanguageModelTask) -> tuple[nn.Module, dict[str, Any]]:
        spec = LMTrainSpec(epochs=self.epochs, batch_size=self.batch_size, lr=self.lr, weight_decay=self.weight_decay, warmup_steps=0)
        log = train_language_model(
            _causal_lm(model), task.retain_documents, spec, task.generator, progress=task.progress, description="FinetuneLM"
        )
        return model, {"final_loss": log.final_loss, "steps": log.steps}


def _batches(documents: Sequence[torch.Tensor], context: int, batch_size: int, generator: torch.Generator) -> Iterator[torch.Tensor]:
    """Endless shuffled chunk batches of ``documents`` (a new epoch's chunks whenever one runs out)."""
    while True:
        chunks = epoch_chunks(documents, context, generator)
        chunks = chunks[torch.randperm(len(chunks), generator=generator)]
        for begin in range(0, len(chunks), batch_size):
            yield chunks[begin : begin + batch_size]


class NegGradLM(UnlearningMethod):
    """Gradient ascent on the forget documents with a retain term: L = alpha * CE(retain) - (1 - alpha) * CE(forget).

    ``epochs`` passes over the forget documents (chunked as in training), each
    step paired with a batch of retained documents; AdamW at ``lr``,
    gradient clipping at 1. Ascent is unbounded, so a batch whose forget
    loss already exceeds ``max_forget_loss`` (nats per token; a uniform
    guess over bytes is ln 256 = 5.5) contributes only its retain term.
    ``alpha = 0`` is plain gradient ascent.
    """

    description = "gradient ascent on the forget documents plus descent on retained ones (NegGrad+ for language models)"
    task_kinds = frozenset({KIND})
    parameter_constraints = {
        "alpha": Interval(float, 0.0, 1.0),
        "lr": Interval(float, 0.0, None, "neither"),
        "epochs": Interval(int, 1, 10_000),
        "batch_size": Interval(int, 1, None),
        "max_forget_loss": Interval(float, 0.0, None, "neither"),
    }
    search_space = {"lr": [1e-4, 3e-4, 1e-3], "epochs": [1, 3, 10], "alpha": [0.5, 0.9]}

    def __init__(
        self, *, alpha: float = 0.5, lr: float = 3e-4, epochs: int = 5, batch_size: int = 16, max_forget_loss: float = 5.0
    ) -> None:
        self.alpha = alpha
        self.lr = lr
        self.epochs = epochs
        self.batch_size = batch_size
        self.max_forget_loss = max_forget_loss

    def _unlearn(self, model: nn.Module, task: LanguageModelTask) -> tuple[nn.Module, dict[str, Any]]:
        lm = _causal_lm(model)
        forget, retain = task.forget_documents, task.retain_documents
        n_forget_chunks = len(epoch_chunks(forget, lm.context, torch.Generator().manual_seed(0)))
        steps = self.epochs * -(-n_forget_chunks // self.batch_size)
        forget_batches = _batches(forget, lm.context, self.batch_size, task.generator)
        retain_batches = _batches(retain, lm.context, self.batch_size, task.generator)
        optimizer = adamw(lm, self.lr, 0.0)
        capped, forget_losses = 0, []
        lm.train()
        with task.progress.task("NegGradLM", steps) as bar:
            for _ in range(steps):
                forget_loss = chunk_loss(lm, next(forget_batches))
                loss = self.alpha * chunk_loss(lm, next(retain_batches))
                if float(forget_loss.detach()) < self.max_forget_loss:
                    loss = loss - (1 - self.alpha) * forget_loss
                else:
                    capped += 1
                forget_losses.append(float(forget_loss.detach()))
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(lm.parameters(), 1.0)
                optimizer.step()
                bar.advance()
        return lm, {"steps": steps, "capped_steps": capped, "last_forget_loss": float(np.mean(forget_losses[-5:]))}


LANGUAGE_MODEL_METHODS: dict[str, type[UnlearningMethod]] = {
    "retrain_lm": RetrainLM,
    "original_lm": OriginalLM,
    "finetune_lm": FinetuneLM,
    "neggrad_lm": NegGradLM,
}
