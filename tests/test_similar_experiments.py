"""Similar samples through configurations: validation, the two oracles, the remedy, stored arrays and the report section."""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import pytest
import torch

from unlearnkit.cli.main import main
from unlearnkit.errors import ConfigError
from unlearnkit.experiment.config import parse_experiments
from unlearnkit.experiment.keys import reference_key, run_key
from unlearnkit.experiment.runner import Runner
from unlearnkit.kinds.registry import KINDS
from unlearnkit.metrics import functional as fn
from unlearnkit.report.build import load_report
from unlearnkit.report.html import render_html
from unlearnkit.report.population import population_against_retrain
from unlearnkit.report.similar import INFLUENCE_LEFT, ORACLE_N, similar_markdown, similar_section
from unlearnkit.store import SQLiteStore, StoreReader

TOY = KINDS["classification"].toy_config()


def experiment(**changes: Any) -> dict[str, Any]:
    raw = copy.deepcopy(TOY)
    raw.update(
        name="toy_similar",
        goal="unlearning",
        seeds=[0, 1],
        forget={"name": "random", "count": 6},
        similar={"name": "block_mask", "block": 4, "ratio": 0.25, "doses": [0, 2, 4], "seed": 1},
        train={"epochs": 4, "batch_size": 16, "lr": 0.05},
        methods=[
            {"name": "retrain"},
            {"name": "original"},
            {"name": "finetune", "epochs": 1},
            {"name": "retrain", "label": "retrain+N", "forget": {"name": "neighbourhood"}},
            {"name": "finetune", "label": "finetune+N", "epochs": 1, "forget": {"name": "neighbourhood"}},
        ],
        metrics=["retain_acc", "test_acc", "target_loss", "target_mia", "reconstruction_ssim", "reconstruction_ssim_baseline"],
        population_metrics=["klom", "u_mia"],
    )
    raw.update(changes)
    return raw


def problems_of(raw: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as error:
        parse_experiments({"experiment": [raw]}, "test.toml")
    return error.value.problems


# -- validation --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"similar": {"name": "paraphrase", "copies": 2}}, "'paraphrase' makes text samples; classification needs one of"),
        ({"similar": {"name": "block_mask", "copies": 2, "doses": [1, 2]}}, "give 'copies' or 'doses', not both"),
        ({"similar": {"name": "embedding_neighbours", "tau": 0.9, "doses": [1]}}, "'doses' and 'heldout' need a constructor that makes"),
        ({"similar": {"name": "embedding_neighbours", "encoder": "features"}}, "classification experiments embed with 'pixels'"),
        ({"similar": {"name": "block_mask", "ratio": 2.0}}, "experiment[0].similar.ratio: must be a float in [0.0, 1.0)"),
        ({"similar": {"name": "no_such", "copies": 1}}, "experiment[0].similar.name: unknown similar-sample constructor 'no_such'"),
        ({"similar": {"name": "block_mask", "doses": [-1]}}, "experiment[0].similar.doses[0]"),
        ({"similar": None}, "goal 'unlearning' needs a forget distribution"),
    ],
)
def test_a_bad_similar_table_is_refused_naming_the_key(change: dict[str, Any], message: str) -> None:
    raw = experiment(**change)
    if change.get("similar") is None:
        raw["methods"] = raw["methods"][:3]
    assert any(message in problem for problem in problems_of(raw)), problems_of(raw)


def test_a_recorded_neighbourhood_needs_recorded_similar_samples() -> None:
    raw = experiment(goal="untraining", similar=None)
    found = problems_of(raw)
    assert any("methods[3].forget.source: 'recorded' reads the similar samples" in p for p in found)
    # the embedding source finds neighbours without a `similar` table
    embedding = {"name": "neighbourhood", "source": "embedding", "tau": 0.5}
    raw["methods"] = [{"name": "retrain"}, {"name": "retrain", "label": "r+N", "forget": embedding}]
    raw["metrics"] = ["retain_acc"]
    raw["population_metrics"] = []
    assert parse_experiments({"experiment": [raw]}, "ok.toml")[0].methods[1].forget is not None


def test_recommendation_experiments_have_no_similar_samples() -> None:
    raw = copy.deepcopy(KINDS["recommendation"].toy_config())
    raw["similar"] = {"name": "block_mask", "copies": 1}
    raw["methods"].append({"name": "retrain_rec", "label": "r+N", "forget": {"name": "neighbourhood"}})
    found = problems_of(raw)
    assert any("experiment[0].similar: recommendation experiments have no similar samples" in p for p in found)
    assert any("experiment[0].methods[2].forget: recommendation experiments have no similar samples" in p for p in found)


def test_the_construction_is_part_of_every_key() -> None:
    first = parse_experiments({"experiment": [experiment()]}, "a.toml")[0]
    other = parse_experiments({"experiment": [experiment(similar={**experiment()["similar"], "seed": 2})]}, "b.toml")[0]
    a, b = KINDS["classification"].resolve(first), KINDS["classification"].resolve(other)
    assert a.setting()["similar"]["seed"] == 1 and a.setting()["similar"]["doses"] == [0, 2, 4]
    assert reference_key(a, 0) != reference_key(b, 0)
    label, method = a.methods[0]
    assert run_key(a, label, method, 0) != run_key(b, label, method, 0)
    # the remedy is part of its own row's key only
    assert a.expansion_params("retrain+N") is not None and a.expansion_params("retrain") is None


# -- the runner: two oracles, the remedy, arrays -----------------------------------------------


@pytest.fixture(scope="module")
def toy_store(tmp_path_factory: pytest.TempPathFactory) -> StoreReader:
    path = tmp_path_factory.mktemp("similar") / "store.sqlite"
    configs = parse_experiments({"experiment": [experiment()]}, "toy.toml")
    torch.set_num_threads(1)
    Runner(SQLiteStore(str(path))).run(configs)
    return StoreReader(str(path))


def test_the_retrain_row_is_a_d_minus_s_and_the_reference_a_d_minus_n(toy_store: StoreReader) -> None:
    runs = toy_store.current_runs()
    plan = Runner(SQLiteStore(toy_store.path)).plan(0, parse_experiments({"experiment": [experiment()]}, "toy.toml")[0])
    split = plan.prepared.split
    for seed in (0, 1):
        by_label = {r.label: r for r in runs if r.seed == seed}
        retrain, remedy = by_label["retrain"], by_label["retrain+N"]
        assert retrain.diagnostics["n_train"] == split.retain.size  # A(D∖S): the copies stay
        assert remedy.diagnostics["n_train"] == split.retain.size - plan.prepared.similar.copies.size  # A(D∖N(S))
        assert remedy.diagnostics["forget_size"] == split.forget.size + plan.prepared.similar.copies.size
        reference = toy_store.reference_outputs(retrain.reference_key)
        # retraining what the remedy leaves is the reference model itself: a model-cache hit, identical outputs
        assert all(np.array_equal(reference[s][0], toy_store.outputs(remedy.run_key)[s][0]) for s in reference)
        assert not np.array_equal(reference["forget"][0], toy_store.outputs(retrain.run_key)["forget"][0])
        # every row is scored on the same targets, whatever it unlearned
        assert all(toy_store.outputs(r.run_key)["forget"][0].shape == reference["forget"][0].shape for r in by_label.values())


def test_arrays_are_stored_with_runs_and_references(toy_store: StoreReader) -> None:
    run = toy_store.current_runs()[0]
    arrays = toy_store.arrays(run.run_key)
    assert sorted(arrays["similar/count"].tolist()) == [0, 0, 2, 2, 4, 4]
    n = arrays["similar/count"].size
    assert arrays["target_mia/score"].shape == (n,) and arrays["reconstruction_ssim/ssim"].shape == (n,)
    assert arrays["reconstruction_ssim/images"].shape == arrays["reconstruction_ssim/targets"].shape == (n, 1, 8, 8)
    # the stored membership scores are the per-target terms of the loss-threshold AUC the metric reported
    outputs = toy_store.outputs(run.run_key)
    losses = {s: fn.per_example_loss(outputs[s][0].astype(np.float64), outputs[s][1]) for s in ("forget", "test")}
    assert arrays["target_mia/score"].mean() == pytest.approx(fn.loss_threshold_auc(losses["forget"], losses["test"]))
    assert run.metrics["target_mia"] == pytest.approx(arrays["target_mia/score"].mean())
    assert set(toy_store.arrays(run.reference_key)) == set(arrays)


def test_the_similar_section_compares_both_oracles_and_the_remedy(toy_store: StoreReader) -> None:
    runs = toy_store.current_runs()
    section = similar_section(toy_store, "toy_similar", "unlearning", runs, set(toy_store.references()))
    assert section is not None and section.has_oracle_n and section.seeds == [0, 1]
    loss = next(m for m in section.measures if m.name == "loss")
    assert loss.ks == [0, 2, 4]
    assert loss.gaps[0].label == INFLUENCE_LEFT
    retrain = next(c for c in loss.gaps if c.label == "retrain")
    assert all(loss.gaps[0].values[k].mean == pytest.approx(retrain.values[k].mean) for k in loss.ks)
    assert {c.label for c in loss.curves} >= {ORACLE_N, "original", "retrain", "finetune", "retrain+N", "finetune+N"}
    remedy = {r.label: r for r in section.remedies}
    assert remedy["retrain+N"].base == "retrain" and remedy["retrain+N"].gap_remedy["loss"].mean == 0.0
    assert "test_acc" in remedy["finetune+N"].utility_remedy
    assert set(section.grid) >= {"target", "original", "A(D∖S)", "A(D∖N(S))"} and len(section.grid_rows) == 6
    # the best method's column is a method's, never A(D∖N(S)) again (retrain+N is that model, with gap 0)
    assert [c for c in section.grid if c.startswith("best: ")] in (["best: finetune"], ["best: finetune+N"])
    text = similar_markdown(section)
    assert "influence left by similar samples" in text and "| retrain+N | retrain |" in text
    against = population_against_retrain(toy_store, runs)
    assert against is not None and against.goal == "untraining"
    assert next(r for r in against.rows if r.label == "retrain").note == "the reference population itself"


def test_the_html_report_shows_the_section_from_the_store_alone(toy_store: StoreReader, tmp_path) -> None:
    page = render_html(toy_store, load_report(toy_store))
    assert "Similar samples: the influence left on the targets" in page
    assert "Population metrics against A(D∖S)" in page and "Reconstructions (first seed" in page
    output = tmp_path / "report.html"
    assert main(["report", "--store", toy_store.path, "--format", "html", "--output", str(output)]) == 0
    assert output.read_text(encoding="utf-8").count("<img") >= 3


def test_the_markdown_report_has_the_section_after_its_experiment(toy_store: StoreReader, capsys) -> None:
    assert main(["report", "--store", toy_store.path]) == 0
    text = capsys.readouterr().out
    table, section = text.index("### toy_similar "), text.index("#### toy_similar: similar samples")
    assert table < section
    assert "Gap to A(D∖N(S))" in text[section:]


def test_an_experiment_without_similar_samples_has_no_section(tmp_path) -> None:
    raw = copy.deepcopy(TOY)
    path = tmp_path / "plain.sqlite"
    Runner(SQLiteStore(str(path))).run(parse_experiments({"experiment": [raw]}, "plain.toml"))
    store = StoreReader(str(path))
    assert similar_section(store, raw["name"], "untraining", store.current_runs(), set(store.references())) is None
    assert "Similar samples" not in render_html(store, load_report(store))
