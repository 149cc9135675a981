"""Training and scoring a causal language model on a corpus of documents.

Documents are 1-D int64 token tensors, each starting with the tokenizer's
document-start id. One epoch shuffles the documents (from the given
``torch.Generator``), concatenates them, cuts the stream into chunks of
``context + 1`` tokens and visits every chunk once in random order, so every
document, a canary included, is seen exactly once per epoch. Removing a
document from the list is how a model is retrained without it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch
import torch.nn.functional as F

from unlearnkit.models.text.gpt import CausalLM, KeyValue
from unlearnkit.params import Configurable, Interval
from unlearnkit.progress import Progress, SilentProgress

IGNORE = -100  # target id that cross_entropy skips (padding)


class LMTrainSpec(Configurable):
    """The language-model recipe: AdamW (betas 0.9, 0.95), linear warm-up then cosine decay to 10 % of ``lr``, gradient clipping."""

    parameter_constraints = {
        "epochs": Interval(int, 1, 10_000),
        "batch_size": Interval(int, 1, None),
        "lr": Interval(float, 0.0, None, "neither"),
        "weight_decay": Interval(float, 0.0, None),
        "warmup_steps": Interval(int, 0, None),
        "grad_clip": Interval(float, 0.0, None, "neither"),
    }

    def __init__(
        self,
        *,
        epochs: int = 10,
        batch_size: int = 32,
        lr: float = 3e-3,
        weight_decay: float = 0.1,
        warmup_steps: int = 50,
        grad_clip: float = 1.0,
    ) -> None:
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.warmup_steps = warmup_steps
        self.grad_clip = grad_clip

    def lr_at(self, step: int, total_steps: int) -> float:
        if step < self.warmup_steps:
            return self.lr * (step + 1) / self.warmup_steps
        progress = (step - self.warmup_steps) / max(total_steps - self.warmup_steps, 1)
        return self.lr * (0.1 + 0.9 * 0.5 * (1.0 + math.cos(math.pi * min(progress, 1.0))))


@dataclass(frozen=True)
class LMTrainLog:
    seconds: float
    steps: int
    tokens: int
    final_loss: float  # mean training loss (nats/token) over the last epoch


def epoch_chunks(documents: Sequence[torch.Tensor], context: int, generator: torch.Generator) -> torch.Tensor:
    """One epoch's chunks (n, context + 1): shuffled documents, concatenated, cut, the last chunk padded with IGNORE."""
    order = torch.randperm(len(documents), generator=generator).tolist()
    stream = torch.cat([documents[i] for i in order])
    width = context + 1
    n = max(1, math.ceil((len(stream) - 1) / context))
    # chunks overlap by one token, so every token but the first is predicted exactly once
    padded = torch.full((n * context + 1,), IGNORE, dtype=torch.long)
    padded[: len(stream)] = stream
    return padded.unfold(0, width, context)


def chunk_loss(model: CausalLM, batch: torch.Tensor) -> torch.Tensor:
    """Mean next-token cross-entropy (nats) of a batch of chunks (B, context + 1); IGNORE targets are skipped."""
    inputs = batch[:, :-1].clamp_min(0)  # padding positions are never targets; any id will do as input
    logits = model(inputs)
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), batch[:, 1:].reshape(-1), ignore_index=IGNORE)


def adamw(model: CausalLM, lr: float, weight_decay: float) -> torch.optim.AdamW:
    """AdamW (betas 0.9, 0.95) with weight decay on matrices only, as in nanoGPT."""
    decay = [p for p in model.parameters() if p.requires_grad and p.ndim >= 2]
    no_decay = [p for p in model.parameters() if p.requires_grad and p.ndim < 2]
    return torch.optim.AdamW(
        [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}], lr=lr, betas=(0.9, 0.95)
    )


def train_language_model(
    model: CausalLM,
    documents: Sequence[torch.Tensor],
    spec: LMTrainSpec,
    generator: torch.Generator,
    *,
    progress: Progress | None = None,
    description: str = "train LM",
) -> LMTrainLog:
    """Train ``model`` in place on ``documents`` with the recipe ``spec``; randomness only from ``generator``."""
    spec.validate_params()
    if not documents:
        raise ValueError("cannot train on an empty corpus")
    optimizer = adamw(model, spec.lr, spec.weight_decay)
    total_tokens = sum(len(d) for d in documents)
    steps_per_epoch = math.ceil(math.ceil((total_tokens - 1) / model.context) / spec.batch_size)
    total = spec.epochs * steps_per_epoch
    step, tokens, start = 0, 0, time.perf_counter()
    model.train()
    epoch_loss = float("nan")
    with (progress or SilentProgress()).task(description, spec.epochs) as bar:
        for _ in range(spec.epochs):
            chunks = epoch_chunks(documents, model.context, generator)
            chunks = chunks[torch.randperm(len(chunks), generator=generator)]
            losses = []
            for begin in range(0, len(chunks), spec.batch_size):
                batch = chunks[begin : begin + spec.batch_size]
                loss = chunk_loss(model, batch)
                for group in optimizer.param_groups:
                    group["lr"] = spec.lr_at(step, total)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), spec.grad_clip)
                optimizer.step()
                losses.append(float(loss.detach()))
                step += 1
                tokens += int((batch[:, 1:] != IGNORE).sum())
            epoch_loss = float(np.mean(losses))
            bar.advance()
    return LMTrainLog(time.perf_counter() - start, step, tokens, epoch_loss)


@torch.no_grad()
def sequence_losses(model: CausalLM, documents: Sequence[torch.Tensor], batch_size: int = 64) -> np.ndarray:
    """Per-document mean negative log-likelihood (nats per predicted token), shape (len(documents),).

    Every token after the first is predicted; a document longer than the
    context is scored in consecutive windows (each conditioned only on its
    own window). This is the per-example output membership attacks and
    population metrics read.
    """
    was_training = model.training
    model.eval()
    try:
        context = model.context
        windows, owner = [], []
        for i, doc in enumerate(documents):
            if len(doc) < 2:
                raise ValueError(f"document {i} has {len(doc)} token(s); scoring needs at least 2")
            n = math.ceil((len(doc) - 1) / context)
            padded = torch.full((n * context + 1,), IGNORE, dtype=torch.long)
            padded[: len(doc)] = doc
            windows.append(padded.unfold(0, context + 1, context))
            owner += [i] * n
        all_windows = torch.cat(windows)
        owners = torch.as_tensor(owner)
        total = torch.zeros(len(documents), dtype=torch.float64)
        count = torch.zeros(len(documents), dtype=torch.float64)
        # sort by length so batches waste little padding
        lengths = (all_windows != IGNORE).sum(1)
        order = torch.argsort(lengths, stable=True)
        for begin in range(0, len(order), batch_size):
            index = order[begin : begin + batch_size]
            batch = all_windows[index]
            width = int(lengths[index].max())
            batch = batch[:, :width]
            logits = model(batch[:, :-1].clamp_min(0))
            nll = F.cross_entropy(logits.transpose(1, 2), batch[:, 1:], ignore_index=IGNORE, reduction="none")
            valid = batch[:, 1:] != IGNORE
            total.index_add_(0, owners[index], (nll * valid).sum(1).double())
            count.index_add_(0, owners[index], valid.sum(1).double())
        return (total / count).numpy()
    finally:
        model.train(was_training)


class PrefixCachingLM(Protocol):
    """What scoring continuations needs: :class:`CausalLM`'s prefix cache (any module offering it will do)."""

    training: bool

    def prefix_state(self, prefix: torch.Tensor) -> tuple[torch.Tensor, list[KeyValue]]: ...

    def continue_from(self, cache: list[KeyValue], ids: torch.Tensor) -> torch.Tensor: ...

    def train(self, mode: bool = True) -> object: ...


@torch.no_grad()
def continuation_log_likelihood(
    model: PrefixCachingLM, prefix: torch.Tensor, continuations: torch.Tensor, batch_size: int = 1024
) -> torch.Tensor:
    """log Pr(continuation | prefix) (nats), summed over the continuation's tokens: shape (M,), float64.

    ``prefix`` is 1-D (P,), ``continuations`` (M, L); P + L - 1 must fit the
    context. The prefix is run once and its keys/values reused for every
    continuation.
    """
    was_training = model.training
    model.train(False)
    try:
        last, cache = model.prefix_state(prefix)
        first = F.log_softmax(last.double(), dim=-1)[continuations[:, 0]]
        if continuations.shape[1] == 1:
            return first
        rest = []
        for begin in range(0, len(continuations), batch_size):
            cont = continuations[begin : begin + batch_size]
            log_probs = F.log_softmax(model.continue_from(cache, cont[:, :-1]).double(), dim=-1)
            rest.append(log_probs.gather(2, cont[:, 1:].unsqueeze(2)).squeeze(2).sum(1))
        return first + torch.cat(rest)
    finally:
        model.train(was_training)
