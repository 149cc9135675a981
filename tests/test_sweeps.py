"""Sweeps in this process: a unit that fails once is retried, one that always fails is recorded and the rest goes on."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sweep_support import TINY, numbers
from unlearnkit.cli.main import main
from unlearnkit.faults import ENVIRONMENT_VARIABLE
from unlearnkit.store import StoreReader


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("sweep") / "tiny.toml"
    path.write_text(TINY)
    return str(path)


@pytest.fixture(scope="module")
def clean(config: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """The numbers of an uninterrupted, fault-free local run."""
    store = str(tmp_path_factory.mktemp("clean") / "store.sqlite")
    assert main(["run", config, "--store", store, "--quiet"]) == 0
    return numbers(store)


def test_a_unit_that_fails_once_is_retried_and_the_numbers_are_unchanged(config, clean, tmp_path, monkeypatch, capsys) -> None:
    faults = tmp_path / "faults"
    monkeypatch.setenv(ENVIRONMENT_VARIABLE, f"unit@tiny/finetune/seed1:raise:1:{faults}")
    store = str(tmp_path / "store.sqlite")
    assert main(["run", config, "--store", store, "--quiet"]) == 0
    assert "6 run(s) executed, 0 already" in capsys.readouterr().err
    assert sorted(p.name for p in faults.iterdir()) == ["unit.1", "unit.2"]  # failed once, succeeded on the retry
    assert numbers(store) == clean


def test_a_unit_that_always_fails_is_reported_the_others_are_stored_and_a_rerun_completes(
    config, clean, tmp_path, monkeypatch, capsys
) -> None:
    monkeypatch.setenv(ENVIRONMENT_VARIABLE, f"unit@/finetune/:always:0:{tmp_path / 'faults'}")
    store = str(tmp_path / "store.sqlite")
    assert main(["run", config, "--store", store, "--quiet", "--retries", "1"]) == 1
    err = " ".join(capsys.readouterr().err.split())
    assert "error: 2 of 12 unit(s) of work failed:" in err
    assert "tiny/finetune/seed0: InjectedFaultError: injected failure at 'unit' (after 2 attempt(s))" in err
    assert "tiny/finetune: 0 of 2 seed(s) stored (0 new, 0 already), 2 failed" in err
    assert "Traceback" not in err
    assert {run.label for run in StoreReader(store).runs()} == {"retrain", "random_label_fast"}

    # the failure is kept with the runs: every report shows it, the JSON one with its traceback
    assert main(["report", "--store", store]) == 0
    text = capsys.readouterr().out
    assert "> ⚠ 2 unit(s) of work failed in the last `run`" in text
    assert "> ⚠ - tiny/finetune/seed1: InjectedFaultError: injected failure at 'unit' (after 2 attempt(s))" in text
    assert main(["report", "--store", store, "--format", "json"]) == 0
    (finetune,) = [r for r in json.loads(capsys.readouterr().out) if r["method"] == "finetune"]
    assert finetune["seeds"] == [] and [f["unit"] for f in finetune["failures"]] == ["tiny/finetune/seed0", "tiny/finetune/seed1"]
    assert "Traceback (most recent call last)" in finetune["failures"][0]["traceback"]
    page = tmp_path / "report.html"
    assert main(["report", "--store", store, "--format", "html", "--output", str(page)]) == 0
    assert "2 unit(s) of work failed in the last `run`" in page.read_text()

    monkeypatch.delenv(ENVIRONMENT_VARIABLE)
    assert main(["run", config, "--store", store, "--quiet"]) == 0
    assert "2 run(s) executed, 4 already" in capsys.readouterr().err
    assert numbers(store) == clean
    assert StoreReader(store).failures() == []
    assert main(["report", "--store", store]) == 0
    assert "failed" not in capsys.readouterr().out


def test_units_that_need_a_failed_model_are_not_run(config, tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setenv(ENVIRONMENT_VARIABLE, f"unit@tiny/train original/seed0:always:0:{tmp_path / 'faults'}")
    store = str(tmp_path / "store.sqlite")
    assert main(["run", config, "--store", store, "--quiet", "--retries", "0"]) == 1
    err = " ".join(capsys.readouterr().err.split())
    # the seed's reference scores and its three runs need the original
    assert "error: 1 of 12 unit(s) of work failed: tiny/train original/seed0: InjectedFaultError" in err
    assert "4 more could not run without their results" in err
    assert {(run.label, run.seed) for run in StoreReader(store).runs()} == {("retrain", 1), ("finetune", 1), ("random_label_fast", 1)}


def test_debug_prints_the_tracebacks_of_failed_units(config, tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setenv(ENVIRONMENT_VARIABLE, f"unit@tiny/finetune/seed0:always:0:{tmp_path / 'faults'}")
    assert main(["run", config, "--store", str(tmp_path / "s.sqlite"), "--quiet", "--retries", "0", "--debug"]) == 1
    err = capsys.readouterr().err
    assert "--- tiny/finetune/seed0\nTraceback (most recent call last):" in err
    assert "InjectedFaultError: injected failure at 'unit'" in err


def test_run_and_tune_show_no_progress_bars_when_output_is_not_a_terminal(config, tmp_path, capsys) -> None:
    store = str(tmp_path / "s.sqlite")
    assert main(["run", config, "--store", store]) == 0
    out, err = capsys.readouterr()
    assert "\x1b[" not in out + err  # no terminal control sequences (bars, colours) in a pipe
    assert out.startswith("### tiny (goal: untraining)")
    # valid Markdown in a pipe: every table row whole on one line, however wide (no wrapping at 80 columns)
    rows = [line for line in out.splitlines() if line.startswith("|")]
    assert len(rows) == 2 + 3 and max(len(line) for line in rows) > 120
    assert {line.count("|") for line in rows} == {rows[0].count("|")}
    assert "tiny/finetune/seed0: retain_acc=" in err  # per-run lines, one per line
    assert Path(store).exists()
