"""The text kinds: text classification on token ids and a causal language model with canaries, end to end on toys."""

from __future__ import annotations

import copy
import math
from typing import Any

import numpy as np
import pytest
import torch

from unlearnkit.errors import ConfigError
from unlearnkit.experiment.config import parse_experiments
from unlearnkit.experiment.runner import Runner
from unlearnkit.kinds.base import Evaluated
from unlearnkit.kinds.language_model import loss_logits
from unlearnkit.kinds.registry import KINDS
from unlearnkit.methods.base import TextClassificationTask
from unlearnkit.methods.registry import METHODS
from unlearnkit.metrics import functional as fn
from unlearnkit.metrics.attacks import confidence_scores
from unlearnkit.metrics.exposure import canary_exposures
from unlearnkit.metrics.language_model import Exposure
from unlearnkit.progress import SilentProgress
from unlearnkit.report.similar import similar_section
from unlearnkit.store import SQLiteStore, StoreReader
from unlearnkit.testing import toy_case
from unlearnkit.training.language_model import sequence_losses

LM = KINDS["language_model"]
TEXT = KINDS["text_classification"]


def test_loss_logits_store_the_loss_as_cross_entropy_and_order_the_margins() -> None:
    losses = np.array([1e-9, 0.01, 0.7, 2.5, 6.0])
    logits, labels = loss_logits(losses)
    assert logits.dtype == torch.float32 and (labels == 1).all()
    cross_entropy = fn.per_example_loss(logits.double(), labels)
    assert cross_entropy[1:] == pytest.approx(losses[1:], rel=1e-5)
    assert cross_entropy[0] == pytest.approx(1e-6, rel=1e-3)  # clipped: log(1 - e^-l) is -inf at l = 0
    assert fn.true_class_confidence(logits, labels) == pytest.approx(np.exp(-np.maximum(losses, 1e-6)), rel=1e-5)
    margins = confidence_scores(logits, labels, "margin")
    assert np.all(np.diff(margins) < 0)  # KLoM and U-MIA see a decreasing function of the loss


def test_the_language_model_kind_stores_each_documents_loss() -> None:
    case = toy_case("language_model")
    outputs = LM.outputs(case.original, case.prepared)
    forget = case.prepared.split.forget
    expected = sequence_losses(case.original, case.prepared.data.take(forget))
    stored = LM.stored_outputs(outputs, case.prepared)
    assert fn.per_example_loss(stored["forget"][0].astype(np.float64), stored["forget"][1]) == pytest.approx(expected, rel=1e-4)
    assert set(stored) == {"retain", "forget", "validation", "test", "heldout_forget"}
    # the forget rows are the trained canaries; their paraphrases are retain rows carrying the same secret
    canaries = case.prepared.data.canaries_of(forget)
    similar = case.prepared.similar
    for target, canary in zip(forget, canaries, strict=True):
        for row in similar.similar_to(int(target)):
            assert row in case.prepared.split.retain and canary.secret in case.prepared.data.text.texts[int(row)]


def test_exposure_metric_ranks_every_model_of_a_seed_against_the_same_candidates() -> None:
    case = toy_case("language_model")
    model = Evaluated(case.original, LM.outputs(case.original, case.prepared), 1.0, None)
    ctx = LM.metric_context(case.prepared, model, model, model, 7)
    metric = Exposure(n_candidates=300, estimator="sampled")
    value = metric.compute(ctx)
    direct = canary_exposures(case.original, ctx.canaries, torch.Generator().manual_seed(7), n_candidates=300)
    assert value == pytest.approx(np.mean([e.sampled_bits for e in direct]))
    arrays = metric.arrays(ctx)
    assert arrays["rank"].tolist() == [e.rank for e in direct] and 0.0 <= value <= math.log2(301)


def _lm_experiment(**changes: Any) -> dict[str, Any]:
    raw = copy.deepcopy(LM.toy_config())
    raw.update(
        name="toy_lm_similar",
        goal="unlearning",
        seeds=[0, 1],
        similar={"name": "paraphrase", "doses": [0, 1, 3]},
        methods=[
            {"name": "retrain_lm"},
            {"name": "original_lm"},
            {"name": "finetune_lm", "lr": 1e-3},
            {"name": "neggrad_lm", "epochs": 2},
            {"name": "neggrad_lm", "label": "neggrad_lm+N", "epochs": 2, "forget": {"name": "neighbourhood"}},
        ],
        metrics=[
            {"name": "exposure", "n_candidates": 200}, "target_loss", {"name": "target_mia", "against": "heldout_forget"}, "test_loss"
        ],
        population_metrics=["klom", "u_mia"],
    )
    raw.update(changes)
    return raw


def test_a_language_model_experiment_runs_both_oracles_and_the_remedy(tmp_path) -> None:
    path = tmp_path / "lm.sqlite"
    torch.set_num_threads(1)
    Runner(SQLiteStore(str(path))).run(parse_experiments({"experiment": [_lm_experiment()]}, "lm.toml"))
    store = StoreReader(str(path))
    runs = store.current_runs()
    assert {r.label for r in runs} == {"retrain_lm", "original_lm", "finetune_lm", "neggrad_lm", "neggrad_lm+N"} and len(runs) == 10
    run = next(r for r in runs if r.label == "neggrad_lm+N")
    arrays = store.arrays(run.run_key)
    counts = arrays["similar/count"]
    assert run.diagnostics["forget_size"] == 4 + counts.sum()  # the canaries and every paraphrase of them
    assert arrays["exposure/bits"].shape == (4,) and sorted(set(counts.tolist())) == [0, 1, 3]
    section = similar_section(store, "toy_lm_similar", "unlearning", runs, set(store.references()))
    assert section is not None and {m.name for m in section.measures} == {"loss", "mia", "exposure"}


def test_language_model_configurations_are_checked_against_the_kind() -> None:
    raw = _lm_experiment(
        similar={"name": "block_mask", "copies": 1},
        methods=[{"name": "scrub"}, {"name": "retrain_lm"}],
        metrics=["test_acc", "exposure"],
        forget={"name": "canaries", "count": 300, "heldout": 200},
    )
    with pytest.raises(ConfigError) as error:
        parse_experiments({"experiment": [raw]}, "bad.toml")
    text = " ".join(error.value.problems)
    assert "'block_mask' makes image samples; language_model needs one of" in text
    assert "'scrub' is a method for ['classification', 'text_classification'] experiments; for language_model use one of" in text
    assert "'test_acc' is a metric for ['classification', 'text_classification'] experiments" in text
    assert "count + heldout must be at most 400" in text


def test_text_classification_trains_on_token_ids_with_paraphrased_copies() -> None:
    case = toy_case("text_classification")
    data, split, similar = case.prepared.data, case.prepared.split, case.prepared.similar
    assert data.x.dtype == torch.int64 and data.x.shape[1] == 24
    assert similar is not None and (similar.counts() == 2).all() and np.isin(similar.copies, split.retain).all()
    source = case.prepared.source
    assert torch.equal(data.x, case.resolved.model_builder.tokenizer().encode_batch(source.texts))
    task = TEXT.task(case.resolved, case.prepared, torch.Generator().manual_seed(0), SilentProgress())
    assert isinstance(task, TextClassificationTask) and task.kind == "text_classification"
    # a method that perturbs inputs does not serve token ids
    assert "text_classification" not in METHODS["unsir"].task_kinds and "text_classification" in METHODS["scrub"].task_kinds
