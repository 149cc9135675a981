"""What language-model metrics read, and canary exposure as a metric.

A language model's per-example outputs are per-document losses, stored as
two-class logits (see :mod:`unlearnkit.metrics.targets`), so the loss and
membership metrics and the population metrics (KLoM, U-MIA) read them like
a classifier's. :class:`LMEvalContext` adds the canaries of the forget
targets, which :class:`Exposure` scores with the model.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from unlearnkit.data.text.canaries import Canary
from unlearnkit.errors import InvalidParameterError, MissingReferenceError
from unlearnkit.metrics.base import EvalContext, Metric
from unlearnkit.metrics.exposure import canary_exposures
from unlearnkit.models.text.gpt import CausalLM
from unlearnkit.params import Interval, Options

ESTIMATORS = ("skew_normal", "sampled")


@dataclass(eq=False)
class LMEvalContext(EvalContext):
    """An :class:`EvalContext` whose model is a causal LM, with the canary of each forget target (in forget order)."""

    canaries: list[Canary] = field(default_factory=list)


class Exposure(Metric):
    """Mean canary exposure (bits) of the forget targets (Carlini et al., "The Secret Sharer").

    exposure = log2 |R| - log2 rank of the canary's secret among the |R|
    secrets of its length, estimated from ``n_candidates`` other secrets
    drawn by a generator seeded with the run seed (so every model of a seed
    ranks against the same candidates): ``"skew_normal"`` (a fitted
    skew-normal CDF, does not saturate) or ``"sampled"`` (the rank among the
    sample, saturates at log2(n_candidates + 1)); formulas in
    :mod:`unlearnkit.metrics.exposure`. Per-target bits, ranks and
    log-perplexities are stored (``bits``, ``rank``, ``log_perplexity``).
    ≈ the reference: a never-trained canary sits near 1 bit on average.
    """

    description = "mean canary exposure of the forget targets in bits (Secret Sharer; per-target values stored), ≈ the reference's"
    direction = "reference"
    notion = "unlearning"
    goals = frozenset({"untraining", "unlearning"})
    needs_model = True
    requires_splits = ("forget",)
    task_kinds = frozenset({"language_model"})
    parameter_constraints = {"n_candidates": Interval(int, 10, 10_000_000), "estimator": Options(ESTIMATORS)}

    def __init__(self, *, n_candidates: int = 2000, estimator: str = "skew_normal") -> None:
        self.n_candidates = n_candidates
        self.estimator = estimator

    def exposures(self, ctx: EvalContext) -> dict[str, np.ndarray]:
        key = f"exposure/{self.n_candidates}"
        if key not in ctx.memo:
            if not isinstance(ctx, LMEvalContext) or not isinstance(ctx.model, CausalLM):
                raise MissingReferenceError("exposure needs a language-model context with the model and the forget canaries")
            if not ctx.canaries:
                raise InvalidParameterError("exposure needs canaries among the forget targets; this experiment has none")
            results = canary_exposures(ctx.model, ctx.canaries, torch.Generator().manual_seed(ctx.seed), n_candidates=self.n_candidates)
            ctx.memo[key] = {
                "skew_normal": np.array([r.skew_normal_bits for r in results]),
                "sampled": np.array([r.sampled_bits for r in results]),
                "rank": np.array([r.rank for r in results], np.int64),
                "log_perplexity": np.array([r.log_perplexity for r in results]),
            }
        found: dict[str, np.ndarray] = ctx.memo[key]
        return found

    def compute(self, ctx: EvalContext) -> float:
        return float(self.exposures(ctx)[self.estimator].mean())

    def arrays(self, ctx: EvalContext) -> dict[str, np.ndarray]:
        found = self.exposures(ctx)
        return {"bits": found[self.estimator], "rank": found["rank"], "log_perplexity": found["log_perplexity"]}
