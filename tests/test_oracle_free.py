"""Oracle-free selection: the score ranks cases whose answer is known, reads no test data, and trains no reference."""

from __future__ import annotations

import copy
import dataclasses
import json
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest
import torch
from torch import nn

from extra_kind import TabularKind
from unlearnkit.cli.main import main
from unlearnkit.errors import UnlearnkitError
from unlearnkit.experiment.config import load_config, parse_experiments
from unlearnkit.experiment.keys import derive_seed
from unlearnkit.experiment.oracle_free import select_recipe_oracle_free
from unlearnkit.experiment.runner import Plan, Runner, resolve
from unlearnkit.experiment.tuning import MethodTuning, recipes_toml, tune_experiment
from unlearnkit.kinds.base import ExperimentKind, Prepared, ResolvedExperiment
from unlearnkit.kinds.classification import ClassificationKind
from unlearnkit.kinds.registry import KINDS
from unlearnkit.methods.base import UnlearningMethod, UnlearnTask
from unlearnkit.metrics.oracle_free import DEFAULT_TOLERANCE, TIME_WEIGHT, OracleFreeCriteria, oracle_free_score, paired_standard_error
from unlearnkit.params import Options
from unlearnkit.progress import SilentProgress
from unlearnkit.store import SQLiteStore
from unlearnkit.training.loop import train_model

# A task whose original memorises its training set (train accuracy 1, validation
# accuracy about 0.65): forget losses are far below validation losses unless unlearned.
MEMORISING: dict[str, Any] = {
    "name": "memorising",
    "seeds": [0],
    "dataset": {"name": "synthetic", "n_classes": 4, "groups_per_class": 6, "samples_per_group": 16, "size": 8, "noise": 4.0},
    "split": {"test_per_group": 3, "validation_fraction": 0.3},
    "forget": {"name": "random", "fraction": 0.2},
    "model": {"name": "mlp", "hidden": 64, "depth": 1},
    "train": {"epochs": 60, "batch_size": 16, "lr": 0.05},
    "methods": [{"name": "retrain"}],
    "metrics": ["forget_acc"],
}
# Forgetting a whole class of an easier task: the reference never predicts that class.
CLASS = {
    **MEMORISING,
    "name": "class",
    "dataset": {**MEMORISING["dataset"], "noise": 1.5},
    "train": {**MEMORISING["train"], "epochs": 30},
    "forget": {"name": "classes", "classes": [1]},
}
# The validation sets hold 69-92 samples; the feasibility rule allows for their noise, so the default holds.
TOLERANCE = DEFAULT_TOLERANCE


def _case(config: dict[str, Any]) -> tuple[ExperimentKind[Any, Any], ResolvedExperiment, Prepared[Any]]:
    (experiment,) = parse_experiments({"experiment": [copy.deepcopy(config)]}, "test")
    kind, resolved = resolve(experiment)
    return kind, resolved, kind.prepare(resolved, resolved.dataset.load())


def _fit(kind: ExperimentKind[Any, Any], resolved: ResolvedExperiment, prepared: Prepared[Any], rows: np.ndarray, seed: int) -> nn.Module:
    model, _ = kind.fit(resolved, prepared, rows, torch.Generator().manual_seed(seed), SilentProgress(), "test")
    return model


class NothingRetrainOrScramble(UnlearningMethod):
    """Test-only: do nothing (the original), retrain on the retain set (the oracle itself), or re-initialise."""

    description: ClassVar[str] = "test-only: nothing, retrain or scramble"
    parameter_constraints: ClassVar[dict[str, Any]] = {"mode": Options(("nothing", "retrain", "scramble"))}
    search_space: ClassVar[dict[str, list[Any]]] = {"mode": ["nothing", "retrain", "scramble"]}

    def __init__(self, *, mode: str = "nothing") -> None:
        self.mode = mode

    def _unlearn(self, model: nn.Module, task: UnlearnTask) -> tuple[nn.Module, dict[str, Any]]:
        if self.mode == "nothing":
            return model, {}
        fresh = task.model_builder.build(task.data.meta, task.generator)
        if self.mode == "retrain":
            x, y = task.retain
            train_model(fresh, x, y, task.train_spec, task.generator)
        return fresh, {}


# -- the score ranks known answers ------------------------------------------------
@pytest.mark.parametrize("config", [MEMORISING, CLASS], ids=["random_samples", "whole_class"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_retrained_model_scores_far_better_than_doing_nothing(config: dict[str, Any], seed: int) -> None:
    kind, resolved, prepared = _case(config)
    original = kind.outputs(_fit(kind, resolved, prepared, prepared.split.train, seed), prepared)
    retrained = kind.outputs(_fit(kind, resolved, prepared, prepared.split.retain, 100 + seed), prepared)
    nothing = oracle_free_score(kind.oracle_free_criteria(resolved, prepared, original, original), 0.0, None, TOLERANCE)
    oracle = oracle_free_score(kind.oracle_free_criteria(resolved, prepared, retrained, original), 0.0, None, TOLERANCE)
    assert nothing.feasible and oracle.feasible
    assert nothing.total - oracle.total > 0.2
    # To the retrained model the forget set is unseen data of its distribution: the attack is near chance.
    assert 0.35 < oracle.criteria.mia_auc < 0.65 and oracle.criteria.loss_ks < 0.3
    assert oracle.criteria.forgotten_label_rate == 0.0
    if config is MEMORISING:
        # Doing nothing: forget losses far below validation losses, an attack well above chance.
        assert nothing.criteria.mia_auc > 0.6 and nothing.criteria.forgotten_label_rate == 0.0
    else:
        # The original still predicts the forgotten class, which no retain sample carries.
        assert nothing.criteria.forgotten_label_rate > 0.7


def test_selection_picks_the_oracle_over_doing_nothing_and_refuses_a_destroyed_model() -> None:
    kind, resolved, prepared = _case(MEMORISING)
    original = _fit(kind, resolved, prepared, prepared.split.train, 0)
    before = {k: v.clone() for k, v in original.state_dict().items()}
    selection = select_recipe_oracle_free(
        kind, resolved, prepared, original, NothingRetrainOrScramble(), budget=4, seed=5, training_seconds=1.0, tolerance=TOLERANCE
    )
    assert all(torch.equal(before[k], v) for k, v in original.state_dict().items())
    by_mode = {trial.params["mode"]: trial for trial in selection.trials}
    assert set(by_mode) == {"nothing", "retrain", "scramble"}
    assert selection.params == {"mode": "retrain"}
    retrain_score, nothing_score, scrambled = by_mode["retrain"].score, by_mode["nothing"].score, by_mode["scramble"].score
    assert retrain_score is not None and nothing_score is not None and scrambled is not None
    assert selection.score == retrain_score.total < nothing_score.total
    # A re-initialised model's forget and validation outputs look alike, but it lost the task: not selectable.
    assert not scrambled.feasible and "validation utility" in (scrambled.why_not or "")
    assert scrambled.criteria.validation_utility < 0.5 * scrambled.criteria.original_validation_utility


def test_tune_oracle_free_selects_the_oracle_without_training_or_loading_a_reference(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fitted: list[np.ndarray] = []
    fit = ClassificationKind.fit

    def recording_fit(self: ClassificationKind, resolved: Any, prepared: Any, rows: np.ndarray, *args: Any) -> Any:
        fitted.append(np.asarray(rows).copy())
        return fit(self, resolved, prepared, rows, *args)

    monkeypatch.setattr(ClassificationKind, "fit", recording_fit)
    store = SQLiteStore(str(tmp_path / "s.sqlite"))
    runner = Runner(store)
    kind, resolved, prepared = _case(MEMORISING)
    plan = Plan(0, kind, dataclasses.replace(resolved, methods=[("toy", NothingRetrainOrScramble())]), prepared)
    (tuning,) = tune_experiment(runner, plan, budget=4, tuning_seeds=[1000], oracle_free=True, tolerance=TOLERANCE)
    assert tuning.criterion == "oracle-free score"
    assert tuning.best is not None and tuning.best[0] == {"mode": "retrain"}
    assert [params["mode"] for params, score, _ in tuning.trials if not np.isfinite(score)] == ["scramble"]
    # The only model the tool trains from scratch is the original (the "retrain" candidate trains its own, not through fit).
    split = prepared.split
    assert len(fitted) == 1 and np.array_equal(fitted[0], split.train)
    reference_rows = kind.reference_rows(prepared, "untraining")
    assert store.load_model(runner.cache.key(kind, resolved, prepared, reference_rows, derive_seed(1000, "unlearn"))) is None
    assert store.load_model(runner.cache.key(kind, resolved, prepared, split.train, derive_seed(1000, "original"))) is not None
    # The oracle-scored tuning of the same plan does train the reference.
    fitted.clear()
    tune_experiment(runner, plan, budget=1, tuning_seeds=[1000])
    assert any(np.array_equal(rows, reference_rows) for rows in fitted)


# -- nothing but forget, calibration, retain and validation outputs is read ----------
def _perturbed(logits: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    return torch.randn(logits.shape, generator=generator) * 10


@pytest.mark.parametrize("config", [MEMORISING, CLASS], ids=["random_samples", "whole_class"])
def test_classification_criteria_never_read_test_or_evaluated_heldout_outputs(config: dict[str, Any]) -> None:
    kind, resolved, prepared = _case(config)
    original = kind.outputs(_fit(kind, resolved, prepared, prepared.split.train, 0), prepared)
    outputs = kind.outputs(_fit(kind, resolved, prepared, prepared.split.retain, 1), prepared)
    criteria = kind.oracle_free_criteria(resolved, prepared, outputs, original)
    generator = torch.Generator().manual_seed(0)
    evaluated_only = [name for name in ("test", "heldout_forget") if outputs.has(name)]
    assert evaluated_only == (["test"] if config is MEMORISING else ["test", "heldout_forget"])
    for model_outputs in (outputs, original):
        for name in evaluated_only:
            model_outputs.logits[name] = _perturbed(model_outputs.logits[name], generator)
    assert kind.oracle_free_criteria(resolved, prepared, outputs, original) == criteria
    read = ["forget", "validation", "retain"] + ([] if config is MEMORISING else ["heldout_forget_validation"])
    for name in read:
        changed = dataclasses.replace(outputs, logits={**outputs.logits, name: _perturbed(outputs.logits[name], generator)})
        assert kind.oracle_free_criteria(resolved, prepared, changed, original) != criteria, name


def test_recommendation_criteria_rank_retraining_first_and_never_read_test_rows() -> None:
    kind = KINDS["recommendation"]
    _, resolved, prepared = _case(kind.toy_config())
    original = kind.outputs(_fit(kind, resolved, prepared, prepared.split.train, 0), prepared)
    retrained = kind.outputs(_fit(kind, resolved, prepared, prepared.split.retain, 1), prepared)
    nothing = oracle_free_score(kind.oracle_free_criteria(resolved, prepared, original, original), 0.0, None)
    oracle = oracle_free_score(kind.oracle_free_criteria(resolved, prepared, retrained, original), 0.0, None)
    assert nothing.total - oracle.total > 0.15
    # flipped forget rows scored against their correct labels: the original learned the flipped ones
    assert nothing.criteria.mia_auc < 0.4 and 0.35 < oracle.criteria.mia_auc < 0.65
    criteria = kind.oracle_free_criteria(resolved, prepared, retrained, original)
    retrained.scores["test"] = -retrained.scores["test"] * 7
    original.scores["test"] = original.scores["test"] + 3
    assert kind.oracle_free_criteria(resolved, prepared, retrained, original) == criteria


# -- the formula ------------------------------------------------------------------------
def _criteria(**changes: Any) -> OracleFreeCriteria:
    base = OracleFreeCriteria(
        loss_ks=0.2, mia_auc=0.4, forgotten_label_rate=0.1, validation_utility=0.85, original_validation_utility=0.9,
        retain_utility=0.95, original_retain_utility=1.0, n_forget=10, n_calibration=10,
    )
    return dataclasses.replace(base, **changes)


def test_score_combines_the_documented_terms() -> None:
    score = oracle_free_score(_criteria(), seconds=2.0, training_seconds=10.0, tolerance=0.1)
    expected = 0.5 * 0.2 + 0.5 * abs(2 * 0.4 - 1) + 0.1 + (1 - 0.85 / 0.9) + (1 - 0.95 / 1.0) + 0.1 * 2.0 / 10.0
    assert score.feasible and score.total == pytest.approx(expected)
    # gains in utility are not rewarded; an unknown training time drops the time term
    better = oracle_free_score(_criteria(validation_utility=0.95, retain_utility=1.0), seconds=2.0, training_seconds=None)
    assert better.total == pytest.approx(0.5 * 0.2 + 0.5 * 0.2 + 0.1)
    # over-forgetting (AUC below chance) costs as much as remembering
    below, above = (oracle_free_score(_criteria(mia_auc=auc), 0.0, None).total for auc in (0.3, 0.7))
    assert below == pytest.approx(above)


def test_a_setting_below_the_utility_tolerance_is_not_feasible() -> None:
    assert oracle_free_score(_criteria(validation_utility=0.81), 0.0, None, tolerance=0.1).feasible
    refused = oracle_free_score(_criteria(validation_utility=0.80), 0.0, None, tolerance=0.1)
    assert not refused.feasible and "0.800 is below 0.90 x the original's 0.900" in (refused.why_not or "")
    # A drop the validation set's noise could explain is not refused; the same drop measured precisely is.
    noisy = _criteria(validation_utility=0.75, validation_noise=0.03)
    assert oracle_free_score(noisy, 0.0, None, tolerance=0.1).feasible
    refused = oracle_free_score(dataclasses.replace(noisy, validation_noise=0.02), 0.0, None, tolerance=0.1)
    assert not refused.feasible and "by more than 2 standard errors (0.020)" in (refused.why_not or "")


def test_paired_standard_error_of_the_validation_change() -> None:
    # 36 validation photos, 2 newly wrong: the change is -1 twice and 0 otherwise.
    changes = np.r_[-np.ones(2), np.zeros(34)]
    assert paired_standard_error(changes) == pytest.approx(np.std(changes, ddof=1) / 6)
    assert paired_standard_error(np.zeros(36)) == 0.0
    assert paired_standard_error(np.array([1.0])) == 0.0


def test_a_kind_without_a_criterion_says_so() -> None:
    kind = TabularKind()
    with pytest.raises(UnlearnkitError, match="define no oracle-free criterion"):
        kind.oracle_free_criteria(None, None, None, None)  # type: ignore[arg-type]  # the refusal comes before any argument is read


# -- the command line -----------------------------------------------------------------
TINY = """
[[experiment]]
name = "tiny"
goal = "untraining"
seeds = [0]
dataset = { name = "synthetic", n_classes = 3, groups_per_class = 3, samples_per_group = 8 }
split = { test_per_group = 2, validation_fraction = 0.2 }
forget = { name = "random", fraction = 0.2 }
model = { name = "mlp", hidden = 16, depth = 1 }
train = { epochs = 10, batch_size = 16, lr = 0.05 }
metrics = ["forget_acc", "avg_gap"]

[[experiment.methods]]
name = "retrain"

[[experiment.methods]]
name = "finetune"
epochs = 1
"""


def test_tune_oracle_free_writes_recipes_and_trains_only_the_original(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config, recipes = tmp_path / "tiny.toml", tmp_path / "recipes.toml"
    config.write_text(TINY)
    store = str(tmp_path / "s.sqlite")
    args = ["tune", str(config), "--store", store, "--budget", "2", "--oracle-free", "--utility-tolerance", "0.5"]
    assert main([*args, "--output", str(recipes)]) == 0
    err = " ".join(capsys.readouterr().err.split())
    assert "oracle-free score (no retrained model)" in err
    text = recipes.read_text()
    assert "(oracle-free score: no retrained model)" in text and "# oracle-free score " in text
    assert SQLiteStore(store).model_count() == 1  # the tuning seed's original, nothing else
    (experiment,) = load_config(str(config))
    assert [m.name for m in experiment.methods] == ["retrain", "finetune"]
    # a second run reads every trial from the store
    assert main(args) == 0
    assert capsys.readouterr().err.count("(stored)") == 2


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--utility-tolerance", "0.1"], "--utility-tolerance applies only with --oracle-free"),
        (["--oracle-free", "--utility-tolerance", "1.0"], "--utility-tolerance must be in [0, 1)"),
    ],
)
def test_tune_refuses_bad_oracle_free_options_before_training(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], message: str
) -> None:
    config = tmp_path / "tiny.toml"
    config.write_text(TINY)
    store = tmp_path / "s.sqlite"
    assert main(["tune", str(config), "--store", str(store), *extra]) == 2
    assert message in capsys.readouterr().err
    assert not store.exists()


def test_recipes_name_the_criterion() -> None:
    tuning = MethodTuning("finetune", "Finetune", criterion="oracle-free score", trials=[({"lr": 0.5, "epochs": 5}, 0.1234, 2.0)])
    text = recipes_toml("tiny", [tuning])
    assert "(oracle-free score: no retrained model)" in text
    assert "lr = 0.5\n# oracle-free score 0.123, 2.0 s on the tuning seed(s)" in text


def test_tune_oracle_free_refuses_a_split_without_calibration_samples_before_training(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Forgetting person 6: none of its photos fell in the validation pool, so nothing unseen of it can be compared with.
    config = tmp_path / "tiny.toml"
    config.write_text(TINY.replace('forget = { name = "random", fraction = 0.2 }', 'forget = { name = "groups", groups = [6] }'))
    (experiment,) = load_config(str(config))
    kind, resolved = resolve(experiment)
    split = kind.prepare(resolved, resolved.dataset.load()).split
    assert split.heldout_forget_validation is not None and split.heldout_forget_validation.size == 0
    store = tmp_path / "s.sqlite"
    assert main(["tune", str(config), "--store", str(store), "--oracle-free"]) == 2
    assert "heldout_forget_validation: 0 in this split, 2 or more needed" in " ".join(capsys.readouterr().err.split())
    assert not store.exists() or SQLiteStore(str(store)).model_count() == 0


@pytest.mark.slow  # starts its own Ray instance (about a minute on the shared machine)
def test_tune_oracle_free_on_ray_workers_scores_as_in_process_up_to_measured_time(tmp_path: Path) -> None:
    """Oracle-free trials are units like the others: on Ray they get the original's state only and measure the same.

    The score's time term (``TIME_WEIGHT`` x seconds over the original's
    training seconds) is a measurement and differs between any two runs;
    everything else must be equal to the last bit.
    """
    ray = pytest.importorskip("ray")
    config = tmp_path / "tiny.toml"
    config.write_text(TINY)
    args = ["tune", str(config), "--budget", "3", "--quiet", "--oracle-free", "--utility-tolerance", "0.5"]
    assert main([*args, "--store", str(tmp_path / "local.sqlite"), "--output", str(tmp_path / "local.toml")]) == 0
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    try:
        assert main([*args, "--store", str(tmp_path / "ray.sqlite"), "--output", str(tmp_path / "ray.toml"), "--workers", "2"]) == 0
    finally:
        ray.shutdown()
    trials = []
    for name in ("local.sqlite", "ray.sqlite"):
        with closing(sqlite3.connect(tmp_path / name)) as db:
            (meta,) = [json.loads(row[0]) for row in db.execute("SELECT meta FROM models")]  # the original only: no reference
            rows = db.execute("SELECT key, label, params, gap, seconds FROM tuning_trials ORDER BY key").fetchall()
        trials.append([(key, label, params, gap - TIME_WEIGHT * seconds / meta["seconds"]) for key, label, params, gap, seconds in rows])
    assert [row[:3] for row in trials[0]] == [row[:3] for row in trials[1]] and len(trials[0]) == 3
    assert all(np.isfinite(row[3]) for row in trials[0])
    assert [row[3] for row in trials[0]] == pytest.approx([row[3] for row in trials[1]], abs=1e-12)
