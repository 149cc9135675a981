"""Goals end to end, stored references, report-time population metrics, and the HTML report."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from unlearnkit.cli.main import main
from unlearnkit.errors import ConfigError, UnlearnkitError
from unlearnkit.experiment.config import load_config
from unlearnkit.experiment.keys import reference_config, reference_key, run_config, run_key
from unlearnkit.experiment.runner import resolve
from unlearnkit.kinds.classification import ClassificationExperimentConfig
from unlearnkit.metrics import (
    challenge_score,
    forgetting_quality,
    klom,
    logit_scaled_confidence,
    margins,
    u_mia,
)
from unlearnkit.metrics.population_metrics import Population
from unlearnkit.report.build import Report, load_report
from unlearnkit.report.goals import goal_warnings, metrics_by_goal, table_rankings
from unlearnkit.report.html import render_html
from unlearnkit.report.markdown import to_markdown
from unlearnkit.report.population import population_tables
from unlearnkit.report.tables import ExperimentTable, MethodRow
from unlearnkit.store import ReferenceRecord, RunRecord, SQLiteStore
from unlearnkit.version import __version__

# --------------------------------------------------------------------------- a tiny store, run through the CLI

EXPERIMENT = """
[[experiment]]
name = "{name}"
goal = "{goal}"
seeds = [0, 1]
dataset = {{ name = "synthetic", n_classes = 3, groups_per_class = 2, samples_per_group = 8 }}
split = {{ test_per_group = 2, validation_fraction = 0.1 }}
forget = {{ name = "group_samples", groups = [2], fraction = 0.5 }}
model = {{ name = "mlp", hidden = 16, depth = 1 }}
train = {{ epochs = 8, batch_size = 16, lr = 0.05 }}
metrics = ["retain_acc", "forget_acc", "test_acc", "heldout_forget_acc", "avg_gap", "wall_time"]
population_metrics = {population}

[[experiment.methods]]
name = "retrain"

[[experiment.methods]]
name = "finetune"
epochs = 1

[[experiment.methods]]
name = "random_label"
epochs = 1
"""

TINY_GOALS = EXPERIMENT.format(
    name="parts_untraining", goal="untraining", population='["forgetting_quality", "klom", { name = "u_mia", split = "heldout_forget" }]'
) + EXPERIMENT.format(name="parts_unlearning", goal="unlearning", population='["forgetting_quality", "klom"]')


@pytest.fixture(scope="module")
def goal_store(tmp_path_factory) -> tuple[str, str]:
    directory = tmp_path_factory.mktemp("goals")
    config = directory / "goals.toml"
    config.write_text(TINY_GOALS)
    store = str(directory / "store.sqlite")
    assert main(["run", str(config), "--store", store, "--quiet"]) == 0
    return str(config), store


def test_unlearning_reference_is_stored_once_per_seed_and_differs_from_retrain(goal_store) -> None:
    config, path = goal_store
    store = SQLiteStore(path)
    experiments = load_config(config)
    references = store.references()
    # one reference per (experiment setting, seed): 2 goals x 2 seeds
    assert len(references) == 4
    _, unlearning = resolve(experiments[1])
    for seed in (0, 1):
        key = reference_key(unlearning, seed)
        assert references[key].goal == "unlearning" and references[key].seed == seed
        assert references[key].metrics["avg_gap"] == 0.0
        retrain = next(r for r in store.runs() if r.experiment == "parts_unlearning" and r.label == "retrain" and r.seed == seed)
        # the report finds a run's reference through the key the run records
        assert retrain.reference_key == key
        # retraining on D minus S is not retraining on D minus the whole forget distribution
        assert not np.array_equal(store.reference_outputs(key)["forget"][0], store.outputs(retrain.run_key)["forget"][0])
        assert retrain.metrics["avg_gap"] > 0.0
    # under untraining the reference is the retrain method's own model
    _, untraining = resolve(experiments[0])
    retrain = next(r for r in store.runs() if r.experiment == "parts_untraining" and r.label == "retrain" and r.seed == 0)
    assert np.array_equal(store.reference_outputs(reference_key(untraining, 0))["forget"][0], store.outputs(retrain.run_key)["forget"][0])


def test_references_are_added_to_an_older_store_without_training(goal_store, tmp_path, capsys) -> None:
    config, path = goal_store
    copy = tmp_path / "copy.sqlite"
    copy.write_bytes(Path(path).read_bytes())
    store = SQLiteStore(str(copy))
    models = store.model_count()
    import sqlite3

    with sqlite3.connect(copy) as db:  # a store written before references were kept
        db.execute("DELETE FROM reference_outputs")
        db.execute("DELETE FROM reference_runs")
    assert store.references() == {}
    assert main(["run", config, "--store", str(copy), "--quiet"]) == 0
    assert "0 run(s) executed, 12 already" in capsys.readouterr().err
    assert len(store.references()) == 4
    assert store.model_count() == models


def test_tables_put_the_goal_reference_first(goal_store) -> None:
    _, path = goal_store
    report = load_report(SQLiteStore(path))
    untraining, unlearning = report.tables
    assert [r.label for r in untraining.rows] == ["retrain", "finetune", "random_label"]
    assert untraining.reference_row.label == "retrain"
    assert [r.label for r in unlearning.rows][:2] == ["reference (retrain on D∖supp(P_f))", "retrain"]
    assert unlearning.reference_row.method == "Reference"
    assert unlearning.reference_row.mean["avg_gap"] == 0.0
    # forget_acc is an untraining metric: off-goal under unlearning, grouped last
    assert list(metrics_by_goal(unlearning))[-1] == "not meant for this goal"
    assert set(goal_warnings(unlearning)) == {"forget_acc", "avg_gap"}
    assert goal_warnings(untraining) == {}


def test_markdown_and_json_reports(goal_store, capsys) -> None:
    _, path = goal_store
    assert main(["report", "--store", path]) == 0
    text = capsys.readouterr().out
    assert "#### parts_untraining: population metrics" in text
    assert "| retrain | 2 | — (the reference population itself) |" in text
    # the warning sits on the ranking line of the off-goal metric
    line = next(x for x in text.splitlines() if x.startswith("- **forget_acc**") and "⚠" in x)
    assert "under the 'unlearning' goal its ranking is not meaningful" in line
    assert main(["report", "--store", path, "--format", "json"]) == 0
    records = json.loads(capsys.readouterr().out)
    finetune = next(r for r in records if r["experiment"] == "parts_unlearning" and r["method"] == "finetune")
    assert set(finetune["population_metrics"]) == {"forgetting_quality", "klom"}
    assert set(finetune["population_goal_warnings"]) == {"forgetting_quality", "klom"}
    low, high = finetune["population_metrics"]["klom"]["ci"]
    assert low <= high


def test_html_report_is_self_contained_with_its_plots(goal_store, tmp_path) -> None:
    _, path = goal_store
    output = tmp_path / "report.html"
    assert main(["report", "--store", path, "--format", "html", "--output", str(output)]) == 0
    page = output.read_text()
    assert "<script" not in page and 'src="http' not in page
    # per experiment: scatter, wall time, per-class accuracy, and loss histograms of the
    # methods that are not the reference (2 under untraining, 3 under unlearning)
    assert page.count('src="data:image/png;base64,') == (3 + 2) + (3 + 3)
    assert page.count('<table class="population">') == 2
    assert "forgetting_quality ↑ ⚠" in page
    assert "reference (retrain on D∖supp(P_f))" in page


# --------------------------------------------------------------------------- population metrics from a hand-built store

def _config(population: list) -> dict:
    return {
        "name": "hand",
        "goal": "untraining",
        "seeds": [0, 1, 2, 3],
        "dataset": {"name": "synthetic"},
        "forget": {"name": "random", "count": 2},
        "model": {"name": "mlp"},
        "methods": [{"name": "finetune"}],
        "metrics": ["retain_acc"],
        "population_metrics": population,
    }


def _outputs(rng: np.random.Generator, shift: float) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    labels = {"forget": np.array([0, 1, 2, 1, 0, 2]), "retain": np.array([0, 1, 2, 0]), "test": np.array([2, 1, 0, 0, 1])}
    return {
        split: ((rng.normal(size=(len(y), 3)) + shift * np.eye(3)[y]).astype(np.float32), y) for split, y in labels.items()
    }


def _hand_store(path: str, seeds: list[int], population: list) -> SQLiteStore:
    """Two populations of random logits: references, and 'finetune' runs whose true-class logit is shifted up.

    Keys come from the configuration, as the runner makes them, so the report finds the runs.
    """
    store = SQLiteStore(path)
    _, resolved = resolve(ClassificationExperimentConfig.model_validate(_config(population)))
    ((label, method),) = resolved.methods
    rng = np.random.default_rng(0)
    info = {"retain_acc": {"direction": "higher", "goals": ["untraining", "unlearning"], "notion": "utility", "needs_reference": False}}
    for seed in seeds:
        ref_key = reference_key(resolved, seed)
        reference = ReferenceRecord(
            reference_key=ref_key, experiment="hand", kind="classification", goal="untraining", seed=seed, seconds=1.0,
            metrics={"retain_acc": 1.0}, metric_info=info, config=reference_config(resolved, seed), version=__version__,
        )
        store.write_reference(reference, _outputs(rng, 0.0))
        record = RunRecord(
            run_key=run_key(resolved, label, method, seed), experiment="hand", experiment_position=0, kind="classification",
            method="Finetune", label=label, role="method", method_position=0, seed=seed, goal="untraining", seconds=0.1,
            peak_memory_mib=None, metrics={"retain_acc": 1.0}, metric_info=info, diagnostics={},
            config=run_config(resolved, label, method, seed), reference_key=ref_key, version=__version__,
        )
        store.write_run(record, _outputs(rng, 2.0))
    store.save_experiment("hand", 0, _config(population), [run_key(resolved, label, method, seed) for seed in seeds])
    return store


def test_report_population_metrics_equal_the_direct_functions(tmp_path) -> None:
    population = ["forgetting_quality", "challenge_score", "klom", {"name": "klom", "split": "retain", "percentile": 50.0}, "u_mia"]
    store = _hand_store(str(tmp_path / "hand.sqlite"), [0, 1, 2, 3], population)
    (table,) = population_tables(store, store.runs())
    (row,) = table.rows
    assert row.seeds == [0, 1, 2, 3]
    runs = store.runs()
    keys = [r.reference_key for r in runs]
    unlearned = Population.stack([store.outputs(r.run_key) for r in runs])
    reference = Population.stack([store.reference_outputs(k) for k in keys])
    u_logits, labels = unlearned.logits["forget"], unlearned.labels["forget"]
    r_logits = reference.logits["forget"]
    u_conf, r_conf = logit_scaled_confidence(u_logits, labels), logit_scaled_confidence(r_logits, labels)

    f = forgetting_quality(u_conf, r_conf)
    assert row.values["forgetting_quality"].value == pytest.approx(f, abs=1e-12)
    def accuracy(p, s):
        return (p.logits[s].argmax(-1) == p.labels[s]).mean(1)

    expected_score = challenge_score(
        f, accuracy(unlearned, "retain"), accuracy(reference, "retain"), accuracy(unlearned, "test"), accuracy(reference, "test")
    )
    assert row.values["challenge_score"].value == pytest.approx(expected_score, abs=1e-12)
    assert row.values["klom"].value == pytest.approx(klom(margins(u_logits, labels), margins(r_logits, labels), percentile=95.0))
    retain_klom = klom(
        margins(unlearned.logits["retain"], unlearned.labels["retain"]),
        margins(reference.logits["retain"], reference.labels["retain"]),
        percentile=50.0,
    )
    assert row.values["klom[percentile=50.0,split=retain]"].value == pytest.approx(retain_klom)
    assert row.values["u_mia"].value == pytest.approx(u_mia(u_conf, r_conf).mean)
    for value in row.values.values():
        assert value.low <= value.high and value.n_examples in (4, 6) and value.undefined == 0
    # a mean's percentile-bootstrap interval contains the mean
    for name in ("forgetting_quality", "u_mia"):
        assert row.values[name].low <= row.values[name].value <= row.values[name].high
    # separated populations: the shifted models are told apart, so F is low and U-MIA high
    assert row.values["u_mia"].value > 0.5


def test_population_metrics_need_two_seeds_with_stored_outputs(tmp_path) -> None:
    store = _hand_store(str(tmp_path / "one.sqlite"), [0], ["klom"])
    with pytest.raises(UnlearnkitError, match="at least 2 seeds"):
        population_tables(store, store.runs())


def test_population_metrics_config_validation(tmp_path) -> None:
    text = EXPERIMENT.format(name="x", goal="untraining", population='["klom", "f_score", { name = "u_mia", split = "nowhere" }, "klom"]')
    path = tmp_path / "bad.toml"
    path.write_text(
        text.replace("seeds = [0, 1]", "seeds = [0]")
        .replace('"group_samples", groups = [2], fraction = 0.5', '"random", count = 2')
        .replace(
            '{ name = "u_mia", split = "nowhere" }', '{ name = "u_mia", split = "nowhere" }, { name = "klom", split = "heldout_forget" }'
        )
    )
    with pytest.raises(ConfigError) as error:
        load_config(str(path))
    problems = "\n".join(error.value.problems)
    assert "population metrics compare N unlearned with N reference models and need at least 2 seeds" in problems
    assert "unknown population metric 'f_score'; registered population metrics: challenge_score, forgetting_quality, klom, u_mia" in (
        problems
    )
    assert "population_metrics[2].split: must be one of" in problems
    assert "population_metrics[3]: split 'heldout_forget' is not among the per-example outputs this experiment stores" in problems
    assert "'klom' is listed twice" in problems


# --------------------------------------------------------------------------- goal rules on constructed tables

def _table(goal: str) -> ExperimentTable:
    both = ["untraining", "unlearning"]
    info = {
        "forget_acc": {"direction": "reference", "goals": ["untraining"], "notion": "untraining", "needs_reference": False},
        "heldout_forget_acc": {"direction": "reference", "goals": both, "notion": "unlearning", "needs_reference": False},
        "zrf": {"direction": "lower", "goals": both, "notion": "unlearning", "needs_reference": False},
    }
    metrics = list(info)
    rows = [
        MethodRow(
            "reference", "Reference", [0, 1], {"forget_acc": 0.9, "heldout_forget_acc": 0.0, "zrf": 0.5}, dict.fromkeys(metrics, 0.0), True
        ),
        MethodRow("close_to_retrain", "A", [0, 1], {"forget_acc": 0.9, "heldout_forget_acc": 0.8, "zrf": 0.4}, dict.fromkeys(metrics, 0.0)),
        MethodRow("erases_class", "B", [0, 1], {"forget_acc": 0.0, "heldout_forget_acc": 0.05, "zrf": 0.1}, dict.fromkeys(metrics, 0.0)),
    ]
    return ExperimentTable("constructed", goal, metrics, info, rows)


def test_rankings_follow_the_reference_and_flag_off_goal_metrics() -> None:
    unlearning = {r.metric: r for r in table_rankings(_table("unlearning"))}
    assert [label for label, _ in unlearning["heldout_forget_acc"].order] == ["erases_class", "close_to_retrain"]
    assert unlearning["heldout_forget_acc"].warning is None
    assert [label for label, _ in unlearning["forget_acc"].order] == ["close_to_retrain", "erases_class"]
    assert "meant for untraining" in unlearning["forget_acc"].warning
    untraining = {r.metric: r for r in table_rankings(_table("untraining"))}
    assert untraining["forget_acc"].warning is None
    # lower-is-better forgetting that is not a distance to the reference rewards over-forgetting
    assert "forgetting more than retraining is a failure" in untraining["zrf"].warning


def test_warning_is_next_to_the_ranking_in_markdown_and_html(tmp_path) -> None:
    table = _table("unlearning")
    text = to_markdown([table])
    line = next(x for x in text.splitlines() if x.startswith("- **forget_acc**"))
    assert "close_to_retrain (0), erases_class (0.9)" in line and "⚠ forget_acc is meant for untraining" in line
    assert "| method | seeds | heldout_forget_acc ≈R | zrf ↓ | forget_acc ≈R ⚠ |" in text
    page = render_html(SQLiteStore(str(tmp_path / "unused.sqlite")), Report([table], [], [], {}))
    item = re.search(r"<li><b>forget_acc</b>.*?</li>", page).group(0)
    assert "⚠ forget_acc is meant for untraining" in item


def test_every_kinds_table_gets_the_utility_vs_forgetting_plot() -> None:
    from unlearnkit.report.html import scatter_axes
    from unlearnkit.store import StoreReader

    fixture = Path(__file__).resolve().parent / "fixtures" / "store_v0.sqlite"
    axes = {t.experiment: scatter_axes(t) for t in load_report(StoreReader(str(fixture))).tables}
    assert axes == {
        "v0_untraining": ("test_acc", "forget_acc"),
        "v0_unlearning": ("retain_acc", "heldout_forget_acc"),
        "v0_recommendation": ("test_auc", "auc_recovery"),
    }
