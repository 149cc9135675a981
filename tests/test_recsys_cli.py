"""Recommendation experiments through the command line: run, cache, report, bad input (exit 2, nothing written)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from unlearnkit.cli.main import main
from unlearnkit.experiment.config import load_config
from unlearnkit.experiment.runner import Runner
from unlearnkit.methods.recsys import RetrainRec
from unlearnkit.progress import SilentProgress
from unlearnkit.store import SQLiteStore

HEAD = """
[[experiment]]
kind = "recommendation"
name = "tiny_rec"
seeds = [0]
dataset = { name = "synthetic_interactions", n_users = 40, n_items = 30, n_rows = 600, signal = 8.0 }
forget = { name = "flip_labels", fraction = 0.05 }
model = { name = "mf", dim = 4 }
train = { epochs = 30, batch_size = 128, lr = 5e-2, l2 = 1e-3, patience = 3 }
metrics = ["test_auc", "auc_or", "recall", "ndcg", "retrain_corr_test", "forget_mia", "auc_recovery", "wall_time", "speedup", "peak_memory"]
"""
METHODS = """
[[experiment.methods]]
name = "retrain_rec"
[[experiment.methods]]
name = "ifru"
[[experiment.methods]]
name = "sisa"
n_shards = 2
"""
EXTRA = """
[[experiment.methods]]
name = "finetune_rec"
epochs = 1
"""


def write(tmp_path, text: str, name: str = "rec.toml") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_run_cache_rerun_and_report(tmp_path, capsys) -> None:
    store_path = str(tmp_path / "store.sqlite")
    config = write(tmp_path, HEAD + METHODS)
    assert main(["run", config, "--store", store_path, "--quiet"]) == 0
    assert "3 run(s) executed, 0 already" in capsys.readouterr().err
    store = SQLiteStore(store_path)
    runs = {r.label: r for r in store.runs()}
    assert set(runs) == {"retrain_rec", "ifru", "sisa"}
    # shared original, retrained reference, SISA's own sharded original
    assert store.model_count() == 3
    retrain = runs["retrain_rec"].metrics
    assert retrain["speedup"] == 1.0 and retrain["auc_recovery"] == pytest.approx(1.0)
    assert retrain["retrain_corr_test"] == pytest.approx(1.0)
    assert runs["ifru"].diagnostics["solver"] == "cg"
    outputs = store.outputs(runs["ifru"].run_key)
    assert set(outputs) == {"forget", "validation", "test"}
    logits, labels = outputs["forget"]
    assert logits.shape == (labels.size, 2) and np.all(logits[:, 0] == 0)

    # same config: nothing runs; one more method: only it runs, originals and reference come from the cache
    assert main(["run", config, "--store", store_path, "--quiet"]) == 0
    assert "0 run(s) executed, 3 already" in capsys.readouterr().err
    assert main(["run", write(tmp_path, HEAD + METHODS + EXTRA), "--store", store_path, "--quiet"]) == 0
    assert "1 run(s) executed, 3 already" in capsys.readouterr().err
    assert store.model_count() == 3

    assert main(["report", "--store", store_path, "--format", "json"]) == 0
    records = json.loads(capsys.readouterr().out)
    assert [r["method"] for r in records] == ["retrain_rec", "ifru", "sisa", "finetune_rec"]
    assert records[0]["metrics"]["speedup"] == 1.0
    assert main(["report", "--store", store_path]) == 0
    assert "### tiny_rec (goal: untraining)" in capsys.readouterr().out
    assert main(["report", "--store", store_path, "--format", "html", "--output", str(tmp_path / "r.html")]) == 0


def test_cached_reference_is_what_retrain_rec_trains(tmp_path) -> None:
    [experiment] = load_config(write(tmp_path, HEAD.replace("epochs = 30", "epochs = 10") + METHODS))
    runner = Runner(SQLiteStore(str(tmp_path / "s.sqlite")))
    plan = runner.plan(0, experiment)
    kind, resolved, prepared = plan.kind, plan.resolved, plan.prepared
    cached = runner.cache.train(kind, resolved, prepared, prepared.split.retain, 7, "reference")
    task = kind.task(resolved, prepared, torch.Generator().manual_seed(7), SilentProgress())
    retrained = RetrainRec().unlearn(torch.nn.Linear(1, 1), task).model
    assert torch.equal(cached.model.user_embedding, retrained.user_embedding)
    assert torch.equal(cached.model.item_embedding, retrained.item_embedding)
    again = runner.cache.train(kind, resolved, prepared, prepared.split.retain, 7, "reference")  # from the store
    assert torch.equal(again.model.item_embedding, retrained.item_embedding) and again.seconds == cached.seconds


BAD = """
[[experiment]]
kind = "recommendation"
name = "bad"
seeds = [0, 0]
dataset = { name = "movielens100k", treshold = 4 }
forget = { name = "users", users = [] }
model = { name = "cnn" }
train = { lr = 0.0 }
metrics = ["test_acc", "test_auc"]

[[experiment.methods]]
name = "finetune"

[[experiment]]
kind = "ranking"
name = "other"
"""


def test_malformed_recommendation_config_lists_every_problem_and_writes_nothing(tmp_path, capsys) -> None:
    store = tmp_path / "store.sqlite"
    assert main(["run", write(tmp_path, BAD), "--store", str(store)]) == 2
    err = capsys.readouterr().err.replace("\n", " ")
    assert "experiment[0].seeds" in err and "experiment[1].kind: unknown experiment kind 'ranking'" in err
    first_only = BAD.replace("[0, 0]", "[0]").split("[[experiment]]\nkind = \"ranking\"")[0]
    assert main(["run", write(tmp_path, first_only), "--store", str(store)]) == 2
    err = capsys.readouterr().err.replace("\n", " ")
    for expected in [
        "experiment[0].dataset.treshold: unknown parameter",
        "experiment[0].forget.users: must be None or a non-empty list",
        "experiment[0].model.name: unknown recommender 'cnn'",
        "experiment[0].train.lr",
        "experiment[0].metrics[0].name: 'test_acc' is a metric for ['classification', 'text_classification'] experiments",
        "experiment[0].methods[0].name: 'finetune' is a method for ['classification', 'text_classification'] experiments",
    ]:
        assert expected in err, expected
    assert not store.exists()


GOOD_FIRST = HEAD.replace("tiny_rec", "good") + METHODS


@pytest.mark.parametrize(
    ("forget", "message"),
    [
        ('{ name = "interactions", pairs = [[0, 0], [99, 1]] }', "ids out of range"),
        ('{ name = "users", users = [0, 400] }', "out of range"),
        ('{ name = "interactions", pairs = [[TEST_USER, TEST_ITEM]] }', "not training interactions"),
        ('{ name = "users", n_users = 40 }', "would forget every one"),
        ('{ name = "random_interactions", count = 5000 }', "would forget all"),
    ],
)
def test_bad_forget_requests_fail_before_any_training(tmp_path, capsys, forget: str, message: str) -> None:
    if "TEST_USER" in forget:
        # a validation/test interaction of the prepared data, which is not a training row
        [experiment] = load_config(write(tmp_path, HEAD + METHODS))
        prepared = Runner(SQLiteStore(str(tmp_path / "unused.sqlite"))).plan(0, experiment).prepared
        row = prepared.split.test[0]
        forget = forget.replace("TEST_USER", str(prepared.data.user[row])).replace("TEST_ITEM", str(prepared.data.item[row]))
    bad = HEAD.replace('{ name = "flip_labels", fraction = 0.05 }', forget) + METHODS
    store = tmp_path / "store.sqlite"
    # a valid experiment first: the bad one must still stop everything before any training or writing
    assert main(["run", write(tmp_path, GOOD_FIRST + bad), "--store", str(store)]) == 2
    err = capsys.readouterr().err.replace("\n", " ")
    assert message in err and "experiment 'tiny_rec'" in err
    assert "Traceback" not in err
    assert not store.exists()


def test_tune_selects_recommendation_recipes_on_validation_data(tmp_path, capsys) -> None:
    recipes = tmp_path / "recipes.toml"
    config = write(tmp_path, HEAD + EXTRA)
    assert main(["tune", config, "--store", str(tmp_path / "s.sqlite"), "--budget", "2", "--output", str(recipes)]) == 0
    text = recipes.read_text()
    assert 'name = "finetune_rec"' in text and "# selection gap" in text


def test_benchmark_configs_validate_and_the_scale_benchmark_runs_at_a_tiny_shape(tmp_path, capsys) -> None:
    benchmarks = Path(__file__).resolve().parent.parent / "benchmarks"
    assert len(load_config(str(benchmarks / "ml100k_ifru.toml"))) == 8
    text = (benchmarks / "ml1m_shape_ifru.toml").read_text(encoding="utf-8")
    [experiment] = load_config(str(benchmarks / "ml1m_shape_ifru.toml"))
    assert experiment.dataset.params["n_rows"] == 1_000_209
    tiny = text.replace("n_users = 6040, n_items = 3706, n_rows = 1000209, rank = 16", "n_users = 50, n_items = 40, n_rows = 900, rank = 4")
    tiny = tiny.replace("batch_size = 8192", "batch_size = 128")
    # AUC-and is undefined on a handful of touched rows at this size
    tiny = tiny.replace('"auc_and", ', "").replace("fraction = 0.01", "fraction = 0.05")
    store = str(tmp_path / "s.sqlite")
    assert main(["run", write(tmp_path, tiny), "--store", store, "--quiet"]) == 0
    assert "3 run(s) executed" in capsys.readouterr().err
