"""The command line, in-process: run into a temporary store, cache hits, bad input."""

from __future__ import annotations

import json
import os

import pytest

from sweep_support import TINY
from unlearnkit.cli.main import main
from unlearnkit.data import DATASETS, SELECTORS
from unlearnkit.methods import METHODS
from unlearnkit.metrics import METRICS
from unlearnkit.models import MODELS
from unlearnkit.store import SQLiteStore


@pytest.fixture
def config(tmp_path):
    path = tmp_path / "tiny.toml"
    path.write_text(TINY)
    return str(path)


def test_run_then_cache_then_report(config, tmp_path, capsys) -> None:
    store = str(tmp_path / "store.sqlite")
    assert main(["run", config, "--store", store, "--quiet"]) == 0
    out, err = capsys.readouterr()
    assert "6 run(s) executed, 0 already" in err
    assert "| retrain | 2 |" in out
    runs = SQLiteStore(store).runs()
    assert len(runs) == 6
    retrain = [r for r in runs if r.label == "retrain"]
    assert all(r.metrics["avg_gap"] == 0.0 and r.metrics["speedup"] == 1.0 for r in retrain)
    # originals (2 seeds) and references (2 seeds) cached; retrain reuses the references
    assert SQLiteStore(store).model_count() == 4

    assert main(["run", config, "--store", store, "--quiet"]) == 0
    assert "0 run(s) executed, 6 already" in capsys.readouterr().err

    assert main(["report", "--store", store, "--format", "json"]) == 0
    records = json.loads(capsys.readouterr().out)
    assert [r["method"] for r in records] == ["retrain", "finetune", "random_label_fast"]
    assert set(records[0]["metrics"]) == {
        "retain_acc", "forget_acc", "test_acc", "heldout_forget_acc", "avg_gap", "wall_time", "speedup", "time_fraction"
    }
    finetune, retrain = records[1]["metrics"], records[0]["metrics"]
    assert finetune["time_fraction"] == pytest.approx(finetune["wall_time"] / retrain["wall_time"], rel=0.5)
    assert records[0]["seeds"] == [0, 1]

    assert main(["report", "--store", store]) == 0
    assert "### tiny (goal: untraining)" in capsys.readouterr().out
    assert SQLiteStore(store).outputs(runs[0].run_key)["forget"][0].shape[1] == 3


BAD = """
[[experiment]]
name = "bad"
goal = "unlearning"
seeds = [0, 0]
dataset = { name = "synthetic", n_classes = 1 }
split = { validation_fraction = 2.0 }
forget = { name = "random", fraction = 0.1 }
model = { name = "transformer" }
train = { lr = -1.0, epochz = 3 }
metrics = ["test_acc"]

[[experiment.methods]]
name = "finetune"
lr = "fast"

[[experiment.methods]]
name = "no_such_method"
"""


def test_malformed_config_reports_everything_exits_2_and_writes_nothing(tmp_path, capsys) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(BAD)
    store = tmp_path / "store.sqlite"
    assert main(["run", str(path), "--store", str(store)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert "experiment[0].seeds" in err
    assert not store.exists()
    # fix the structural problem: now every semantic problem is listed at once
    path.write_text(BAD.replace("seeds = [0, 0]", "seeds = [0]"))
    assert main(["run", str(path), "--store", str(store)]) == 2
    err = capsys.readouterr().err.replace("\n", " ")
    for expected in [
        "experiment[0].dataset.n_classes: must be an int in [2, 100]; got 1",
        "experiment[0].split.validation_fraction",
        "experiment[0].model.name: unknown model 'transformer'",
        "experiment[0].train.lr",
        "experiment[0].train.epochz: unknown parameter",
        "experiment[0].methods[0].lr",
        "experiment[0].methods[1].name: unknown method 'no_such_method'",
        "goal 'unlearning' needs a forget distribution: a selector that defines one",
    ]:
        assert expected in err, expected
    assert not store.exists()


def test_invalid_toml_and_missing_file_exit_2(tmp_path, capsys) -> None:
    path = tmp_path / "broken.toml"
    path.write_text("[[experiment]\nname=")
    assert main(["run", str(path), "--store", str(tmp_path / "s.sqlite")]) == 2
    assert "not valid TOML" in capsys.readouterr().err
    assert main(["run", str(tmp_path / "missing.toml")]) == 2
    assert "file not found" in capsys.readouterr().err


def test_debug_shows_traceback(tmp_path) -> None:
    path = tmp_path / "broken.toml"
    path.write_text("[[experiment]\nname=")
    with pytest.raises(Exception, match="not valid TOML"):
        main(["--debug", "run", str(path)])


def test_list_shows_every_registered_component(capsys) -> None:
    assert main(["list", "--json"]) == 0
    listing = json.loads(capsys.readouterr().out)
    for kind, registry in {"methods": METHODS, "metrics": METRICS, "datasets": DATASETS, "models": MODELS, "selectors": SELECTORS}.items():
        assert set(listing[kind]) == set(registry)
    assert listing["metrics"]["avg_gap"]["direction"] == "lower"
    assert main(["list", "methods"]) == 0
    assert "neggrad_plus" in capsys.readouterr().out


def test_report_without_store_exits_2(tmp_path, capsys) -> None:
    assert main(["report", "--store", os.path.join(tmp_path, "none.sqlite")]) == 2
    assert "no store" in capsys.readouterr().err


def test_report_shows_only_the_latest_recipe_of_a_label(config, tmp_path, capsys) -> None:
    """Re-running a label with another recipe replaces its rows in the report; the old runs stay stored."""
    store = str(tmp_path / "store.sqlite")
    assert main(["run", config, "--store", store, "--quiet"]) == 0
    capsys.readouterr()
    assert main(["report", "--store", store, "--format", "json"]) == 0
    before = {r["method"]: r for r in json.loads(capsys.readouterr().out)}
    changed = tmp_path / "changed.toml"
    changed.write_text(TINY.replace("name = \"finetune\"\nepochs = 2", "name = \"finetune\"\nepochs = 4\nlr = 0.05"))
    assert main(["run", str(changed), "--store", store, "--quiet"]) == 0
    assert "2 run(s) executed, 4 already" in capsys.readouterr().err
    assert len(SQLiteStore(store).runs()) == 8
    assert main(["report", "--store", store, "--format", "json"]) == 0
    after = {r["method"]: r for r in json.loads(capsys.readouterr().out)}
    assert after["finetune"]["seeds"] == [0, 1]
    finetune_runs = [r for r in SQLiteStore(store).current_runs() if r.label == "finetune"]
    assert len(finetune_runs) == 2 and all(r.config["method"][2]["epochs"] == 4 for r in finetune_runs)
    # the report's mean is over the new runs only (the old ones took other times)
    assert after["finetune"]["metrics"]["wall_time"] == pytest.approx(sum(r.metrics["wall_time"] for r in finetune_runs) / 2)
    assert after["finetune"]["metrics"]["wall_time"] != pytest.approx(before["finetune"]["metrics"]["wall_time"])
    assert after["retrain"] == before["retrain"]
