"""A kind is one module plus one registry line: a test-only tabular kind runs through run, report, tune."""

from __future__ import annotations

import json

import pytest

from extra_kind import TabularAscent, TabularForgetAccuracy, TabularKind, TabularRetrain
from unlearnkit.cli.main import main
from unlearnkit.kinds.registry import KINDS
from unlearnkit.methods.registry import METHODS
from unlearnkit.metrics.registry import METRICS
from unlearnkit.testing import check_method

CONFIG = """
[[experiment]]
kind = "tabular"
name = "tabular_demo"
seeds = [0, 1]
dataset = { name = "blobs", n = 160 }
forget = { name = "first_rows", count = 8 }
model = { name = "logistic" }
train = { steps = 60 }
metrics = ["tabular_forget_acc"]
population_metrics = ["klom"]

[[experiment.methods]]
name = "tabular_retrain"

[[experiment.methods]]
name = "tabular_ascent"
steps = 3
"""


@pytest.fixture
def tabular_kind(monkeypatch: pytest.MonkeyPatch) -> None:
    # The one registry line (plus the kind's own method and metric), for this test only.
    monkeypatch.setitem(KINDS._entries, "tabular", TabularKind())
    monkeypatch.setitem(METHODS._entries, "tabular_retrain", TabularRetrain)
    monkeypatch.setitem(METHODS._entries, "tabular_ascent", TabularAscent)
    monkeypatch.setitem(METRICS._entries, "tabular_forget_acc", TabularForgetAccuracy)


def test_an_extra_kind_runs_reports_and_tunes_through_the_one_skeleton(tabular_kind: None, tmp_path, capsys) -> None:
    config = tmp_path / "tabular.toml"
    config.write_text(CONFIG)
    store = str(tmp_path / "s.sqlite")
    assert main(["run", str(config), "--store", store, "--quiet"]) == 0
    assert "4 run(s) executed" in capsys.readouterr().err
    assert main(["report", "--store", store, "--format", "json"]) == 0
    records = json.loads(capsys.readouterr().out)
    assert [r["method"] for r in records] == ["tabular_retrain", "tabular_ascent"]
    assert records[0]["is_reference"] and "klom" in records[1]["population_metrics"]
    assert main(["run", str(config), "--store", store, "--quiet"]) == 0
    assert "0 run(s) executed, 4 already" in capsys.readouterr().err
    assert main(["tune", str(config), "--store", store, "--budget", "2"]) == 0
    assert 'name = "tabular_ascent"' in capsys.readouterr().out


def test_an_extra_kinds_methods_pass_the_public_contract_checks(tabular_kind: None) -> None:
    check_method(TabularRetrain)
    check_method(TabularAscent)


def test_the_kind_name_is_validated_against_the_registry(tmp_path, capsys) -> None:
    config = tmp_path / "tabular.toml"
    config.write_text(CONFIG)
    assert main(["run", str(config), "--store", str(tmp_path / "s.sqlite")]) == 2
    expected = "unknown experiment kind 'tabular'; registered kinds: classification, language_model, recommendation, text_classification"
    assert expected in capsys.readouterr().err
