"""`unlearnkit tune`: candidate grids, validation-only selection, time budget, recipes that apply."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch

from unlearnkit.cli.main import main
from unlearnkit.errors import UnsuitableSettingError
from unlearnkit.experiment.config import load_config
from unlearnkit.experiment.runner import Runner
from unlearnkit.experiment.tuning import MethodTuning, candidates, recipes_toml, tune_experiment
from unlearnkit.kinds.classification import selection_gap
from unlearnkit.methods import METHODS
from unlearnkit.metrics.base import ModelOutputs
from unlearnkit.store import SQLiteStore

ROOT = Path(__file__).resolve().parents[1]

TINY = """
[[experiment]]
name = "tiny"
goal = "untraining"
seeds = [0]
dataset = { name = "synthetic", n_classes = 3, groups_per_class = 3, samples_per_group = 8 }
split = { test_per_group = 2, validation_fraction = 0.1 }
forget = { name = "random", fraction = 0.2 }
model = { name = "mlp", hidden = 16, depth = 1 }
train = { epochs = 10, batch_size = 16, lr = 0.05 }
metrics = ["forget_acc", "avg_gap"]

[[experiment.methods]]
name = "retrain"

[[experiment.methods]]
name = "finetune"
epochs = 1

[[experiment.methods]]
name = "random_label"
label = "rl"
epochs = 1
"""


def test_candidates_start_with_the_configured_setting_and_respect_the_budget() -> None:
    method = METHODS["finetune"](lr=0.02, epochs=2)
    first = candidates(method, budget=5, seed=3)
    assert first[0] == method.get_params()
    assert len(first) == 5
    assert len({tuple(sorted(c.items())) for c in first}) == 5
    assert first == candidates(method, budget=5, seed=3)
    assert first != candidates(method, budget=5, seed=4)
    assert candidates(method, budget=1, seed=3) == [method.get_params()]


def test_best_respects_the_time_limit_and_skips_diverged_settings() -> None:
    tuning = MethodTuning("m", "FineTune", time_limit=1.0)
    tuning.trials += [({"lr": 1}, 0.5, 3.0), ({"lr": 2}, float("inf"), float("nan")), ({"lr": 3}, 2.0, 0.5), ({"lr": 4}, 4.0, 0.1)]
    assert tuning.best == ({"lr": 3}, 2.0, 0.5)
    assert MethodTuning("m", "FineTune", trials=list(tuning.trials)).best == ({"lr": 1}, 0.5, 3.0)
    assert MethodTuning("m", "FineTune", time_limit=0.01, trials=list(tuning.trials)).best is None


def _outputs(generator: torch.Generator) -> ModelOutputs:
    names = ("forget", "retain", "validation", "test")
    logits = {name: torch.randn(20, 3, generator=generator) for name in names}
    labels = {name: torch.randint(0, 3, (20,), generator=generator) for name in names}
    return ModelOutputs(logits, labels)


def test_selection_gap_never_reads_test_outputs() -> None:
    generator = torch.Generator().manual_seed(0)
    outputs, reference = _outputs(generator), _outputs(generator)
    gap = selection_gap(outputs, reference)
    assert selection_gap(reference, reference) == 0.0
    assert gap > 0
    outputs.logits["test"] = torch.randn(20, 3, generator=generator)
    outputs.labels["test"] = (outputs.labels["test"] + 1) % 3
    assert selection_gap(outputs, reference) == gap
    outputs.logits["validation"] = -outputs.logits["validation"]
    assert selection_gap(outputs, reference) != gap


def test_recipes_keep_the_configured_setting_when_nothing_qualifies() -> None:
    fast = MethodTuning("rl", "RandomLabel", time_limit=1.0, trials=[({**METHODS["random_label"]().get_params(), "epochs": 1}, 1.0, 0.5)])
    slow = MethodTuning("finetune", "FineTune", time_limit=1.0, trials=[(METHODS["finetune"]().get_params(), 1.0, 5.0)])
    text = recipes_toml("tiny", [fast, slow])
    assert 'name = "random_label"\nlabel = "rl"\nepochs = 1\n' in text
    assert "# finetune: no setting finished within 1.0 s; configured recipe kept" in text
    assert 'name = "finetune"' not in text


def _apply_recipes():
    spec = importlib.util.spec_from_file_location("apply_recipes", ROOT / "scripts" / "apply_recipes.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.main


def test_tune_writes_recipes_that_apply_to_the_config(tmp_path, capsys) -> None:
    config, recipes = tmp_path / "tiny.toml", tmp_path / "recipes.toml"
    config.write_text(TINY)
    store = str(tmp_path / "s.sqlite")
    assert main(["tune", str(config), "--store", store, "--budget", "2", "--output", str(recipes)]) == 0
    text = recipes.read_text()
    assert text.count("[[experiment.methods]]") == 2
    assert "# selection gap" in text
    _apply_recipes()(str(config), str(recipes))
    (experiment,) = load_config(str(config))
    labels = [m.label or m.name for m in experiment.methods]
    assert labels == ["retrain", "finetune", "rl"]
    assert main(["run", str(config), "--store", store, "--quiet"]) == 0


def test_tune_time_budget_below_any_setting_selects_nothing(tmp_path, capsys) -> None:
    config, recipes = tmp_path / "tiny.toml", tmp_path / "recipes.toml"
    config.write_text(TINY)
    args = ["tune", str(config), "--store", str(tmp_path / "s.sqlite"), "--budget", "1", "--max-time-fraction", "1e-9"]
    assert main([*args, "--output", str(recipes)]) == 0
    assert "[[experiment.methods]]" not in recipes.read_text()
    assert recipes.read_text().count("configured recipe kept") == 2
    assert "none selectable" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("extra", "message"),
    [(["--max-time-fraction", "0"], "--max-time-fraction must be a positive number"), (["--tuning-seed", "0"], "is an evaluation seed")],
)
def test_tune_rejects_bad_options_before_training(tmp_path, capsys, extra, message) -> None:
    config = tmp_path / "tiny.toml"
    config.write_text(TINY)
    store = tmp_path / "s.sqlite"
    assert main(["tune", str(config), "--store", str(store), *extra]) == 2
    assert message in capsys.readouterr().err
    assert not store.exists()


def test_tune_reuses_stored_trials_and_reselects_under_a_budget(tmp_path, capsys) -> None:
    config, first, second = tmp_path / "tiny.toml", tmp_path / "first.toml", tmp_path / "second.toml"
    config.write_text(TINY)
    args = ["tune", str(config), "--store", str(tmp_path / "s.sqlite"), "--budget", "3"]
    assert main([*args, "--output", str(first)]) == 0
    assert "(stored)" not in capsys.readouterr().err
    assert main([*args, "--output", str(second)]) == 0
    assert capsys.readouterr().err.count("(stored)") == 6
    assert first.read_text() == second.read_text()
    assert main([*args, "--max-time-fraction", "1e-9", "--output", str(second)]) == 0
    assert capsys.readouterr().err.count("(stored)") == 6
    assert second.read_text().count("configured recipe kept") == 2


def test_tune_trials_are_not_shared_across_tuning_seeds(tmp_path, capsys) -> None:
    config = tmp_path / "tiny.toml"
    config.write_text(TINY)
    args = ["tune", str(config), "--store", str(tmp_path / "s.sqlite"), "--budget", "1"]
    assert main(args) == 0
    capsys.readouterr()
    assert main([*args, "--tuning-seed", "7"]) == 0
    assert "(stored)" not in capsys.readouterr().err


def test_a_setting_that_fails_on_the_model_is_unusable_not_fatal(tmp_path, capsys, monkeypatch) -> None:
    def fail(self, model, task):
        raise UnsuitableSettingError("conjugate gradient met non-positive curvature")

    monkeypatch.setattr(METHODS["finetune"], "_unlearn", fail)
    config, recipes = tmp_path / "tiny.toml", tmp_path / "recipes.toml"
    config.write_text(TINY)
    assert main(["tune", str(config), "--store", str(tmp_path / "s.sqlite"), "--budget", "2", "--output", str(recipes)]) == 0
    assert "unusable (conjugate gradient met non-positive curvature)" in " ".join(capsys.readouterr().err.split())
    text = recipes.read_text()
    assert "# finetune: every setting failed; configured recipe kept" in text
    assert text.count("[[experiment.methods]]") == 1


@pytest.mark.parametrize(("name", "variant"), [("scrub", {"rewind": True}), ("dlfd", {"mode": "reference"})])
def test_tuning_keeps_the_configured_variant(name, variant) -> None:
    """SCRUB+R and DLFD's reference mode are separate rows of a benchmark; a search must not turn them into another."""
    for candidate in candidates(METHODS[name](**variant), budget=200, seed=0):
        assert {key: candidate[key] for key in variant} == variant


def test_retuning_a_tuned_setting_tries_the_same_points() -> None:
    """Tuning is idempotent: starting from the selected recipe draws the same sample of the grid."""
    default = candidates(METHODS["salun"](), budget=6, seed=1000)
    for picked in default[1:]:
        again = candidates(METHODS["salun"].from_params(picked), budget=6, seed=1000)
        assert again[0] == picked
        assert {tuple(sorted(c.items())) for c in again} <= {tuple(sorted(c.items())) for c in default}


def test_several_tuning_seeds_average_the_per_seed_gaps(tmp_path) -> None:
    config = tmp_path / "tiny.toml"
    config.write_text(TINY)
    (experiment,) = load_config(str(config))
    runner = Runner(SQLiteStore(str(tmp_path / "s.sqlite")))
    plan = runner.plan(0, experiment)
    # budget 1: only the configured setting, so every seed scores the same parameters
    single = [tune_experiment(runner, plan, budget=1, tuning_seeds=[seed], only=["finetune"])[0] for seed in (1002, 1003)]
    (both,) = tune_experiment(runner, plan, budget=1, tuning_seeds=[1002, 1003], only=["finetune"])
    ((params, gap, seconds),) = both.trials
    per_seed = [tuning.trials[0] for tuning in single]
    assert all(p == params for p, _, _ in per_seed)
    assert per_seed[0][1] != per_seed[1][1]
    assert gap == pytest.approx(np.mean([g for _, g, _ in per_seed]))
    assert seconds == pytest.approx(np.mean([s for _, _, s in per_seed]))


def test_tune_rejects_repeated_tuning_seeds(tmp_path, capsys) -> None:
    config = tmp_path / "tiny.toml"
    config.write_text(TINY)
    assert main(["tune", str(config), "--store", str(tmp_path / "s.sqlite"), "--tuning-seed", "7", "--tuning-seed", "7"]) == 2
    assert "must be distinct" in capsys.readouterr().err
