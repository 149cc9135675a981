"""Canary exposure under a language model: hand-computed on a toy model; dose-response with paraphrases (slow)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from unlearnkit.data.similar import SIMILAR_CONSTRUCTORS
from unlearnkit.data.text import (
    ByteTokenizer,
    Canary,
    TextData,
    insert_canaries,
    make_canaries,
)
from unlearnkit.errors import InvalidParameterError
from unlearnkit.metrics.exposure import canary_exposures
from unlearnkit.models.text import TinyGPT
from unlearnkit.training.language_model import LMTrainSpec, train_language_model


class OnesLoverLM(nn.Module):
    """Every position predicts byte "1" with probability 1/2 and each other byte with (1/2)/255."""

    context = 64

    @staticmethod
    def _log_probs() -> torch.Tensor:
        probs = torch.full((256,), 0.5 / 255)
        probs[ord("1")] = 0.5
        return probs.log()

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self._log_probs().expand(*ids.shape, 256)

    # the prefix-caching interface of CausalLM, which canary_exposures uses
    def prefix_state(self, prefix: torch.Tensor) -> tuple[torch.Tensor, list[tuple[torch.Tensor, torch.Tensor]]]:
        return self._log_probs(), []

    def continue_from(self, cache: list[tuple[torch.Tensor, torch.Tensor]], ids: torch.Tensor) -> torch.Tensor:
        return self.forward(ids)


@pytest.mark.parametrize(
    ("secret", "rank"),
    [
        ("11", 1),  # the favourite
        ("12", 19),  # "11" and the 18 two-digit strings with exactly one "1" (itself included)
        ("23", 100),  # ties with all 81 one-free strings, below the 19 others: last
    ],
)
def test_exact_exposure_on_a_toy_model_matches_the_hand_computation(secret: str, rank: int) -> None:
    (result,) = canary_exposures(OnesLoverLM(), [Canary("Alba Moreno", secret)], torch.Generator(), n_candidates=None)
    assert result.rank == rank and result.n_candidates == 99 and result.space_size == 100
    assert result.sampled_bits == pytest.approx(math.log2(100) - math.log2(rank))
    expected = -sum(math.log(0.5 if d == "1" else 0.5 / 255) for d in secret)
    assert result.log_perplexity == pytest.approx(expected)


def test_sampled_candidates_are_seeded_and_exclude_the_secret() -> None:
    canary = Canary("Theo Brandt", "1111")
    first = canary_exposures(OnesLoverLM(), [canary], torch.Generator().manual_seed(0), n_candidates=500)
    again = canary_exposures(OnesLoverLM(), [canary], torch.Generator().manual_seed(0), n_candidates=500)
    assert first == again
    assert first[0].rank == 1 and first[0].sampled_bits == pytest.approx(math.log2(501))
    # the unique favourite of 10^4: the skew-normal estimate is capped at log2 10^4
    assert first[0].skew_normal_bits == pytest.approx(math.log2(10**4))
    with pytest.raises(InvalidParameterError, match="n_candidates must lie in"):
        canary_exposures(OnesLoverLM(), [canary], torch.Generator(), n_candidates=10**4)


FILLER_SUBJECTS = ("the film", "the cast", "this story", "the director", "the script", "the ending", "our hero", "the score")
FILLER_VERBS = ("is", "feels", "seems", "looks", "becomes")
FILLER_ADJECTIVES = ("charming", "dull", "clever", "tedious", "moving", "silly", "bold", "thin", "warm", "bleak")


def _filler(n: int, generator: torch.Generator) -> list[str]:
    def pick(options: tuple[str, ...]) -> str:
        return options[int(torch.randint(len(options), (), generator=generator))]

    return [f"{pick(FILLER_SUBJECTS)} {pick(FILLER_VERBS)} {pick(FILLER_ADJECTIVES)} and {pick(FILLER_ADJECTIVES)}" for _ in range(n)]


@pytest.mark.slow
def test_exposure_rises_with_the_number_of_paraphrases() -> None:
    """Canaries inserted once with 8 paraphrases each are far more exposed than canaries inserted once alone."""
    torch.set_num_threads(1)
    g = torch.Generator().manual_seed(0)
    corpus = TextData("filler", tuple(_filler(600, g)), None, torch.zeros(600, dtype=torch.long), 0)
    canaries = make_canaries(8, g, digits=4)
    with_canaries, rows = insert_canaries(corpus, canaries)
    paraphrased = SIMILAR_CONSTRUCTORS["paraphrase"](copies=8, synonym_rate=0.0, reorder_rate=0.0)
    built = paraphrased.construct(with_canaries, rows[:4], generator=g)  # the first 4 canaries get 8 paraphrases
    tok = ByteTokenizer()
    documents = [tok.encode(t, bos=True) for t in built.data.texts]
    model = TinyGPT(n_layer=2, d_model=64, n_head=4, context=64).build(256, torch.Generator().manual_seed(0))
    train_language_model(
        model, documents, LMTrainSpec(epochs=25, batch_size=16, lr=3e-3, warmup_steps=20), torch.Generator().manual_seed(0)
    )
    exposures = canary_exposures(model, canaries, torch.Generator().manual_seed(1), n_candidates=None)
    bits = np.array([e.sampled_bits for e in exposures])
    paraphrased_bits, alone_bits = bits[:4].mean(), bits[4:].mean()
    assert paraphrased_bits > alone_bits + 3.0, bits
    assert alone_bits < 8.0, bits  # a single occurrence is not memorised to the top of 10^4
