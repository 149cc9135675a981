"""Progress: bars with elapsed time and an estimate on a terminal, nothing with --quiet or in a pipe; a summary per method."""

from __future__ import annotations

import argparse
import io

import pytest
from rich.console import Console

from sweep_support import TINY
from unlearnkit.cli.execution import execution
from unlearnkit.cli.main import main
from unlearnkit.experiment.config import load_config
from unlearnkit.experiment.runner import Runner
from unlearnkit.store import SQLiteStore


@pytest.fixture
def config(tmp_path) -> str:
    path = tmp_path / "tiny.toml"
    path.write_text(TINY)
    return str(path)


def _run_with(console: Console, config: str, store: str, quiet: bool) -> None:
    args = argparse.Namespace(quiet=quiet, workers=None, address=None, retries=0, cpus_per_unit=None)
    with execution(args, console) as how:
        Runner(SQLiteStore(store), progress=how.progress, executor=how.executor).run(load_config(config))


def test_a_terminal_gets_bars_for_the_sweep_training_and_unlearning_with_time_and_estimate(config, tmp_path) -> None:
    screen = io.StringIO()
    _run_with(Console(file=screen, force_terminal=True, width=160), config, str(tmp_path / "s.sqlite"), quiet=False)
    text = screen.getvalue()
    for description in ("sweep: units of work", "tiny: train original", "tiny: train reference"):
        assert description in text
    assert "eta" in text and "0:00:" in text  # elapsed and remaining time columns
    assert "\x1b[" in text  # drawn and redrawn in place


@pytest.mark.parametrize("terminal", [True, False])
def test_no_bars_with_quiet_or_when_the_output_is_not_a_terminal(config, tmp_path, terminal) -> None:
    screen = io.StringIO()
    _run_with(Console(file=screen, force_terminal=terminal, width=160), config, str(tmp_path / "s.sqlite"), quiet=terminal)
    assert screen.getvalue() == ""


def test_run_ends_with_a_summary_line_per_method(config, tmp_path, capsys) -> None:
    store = str(tmp_path / "s.sqlite")
    assert main(["run", config, "--store", store, "--quiet"]) == 0
    lines = capsys.readouterr().err.splitlines()
    assert lines[0].startswith("6 run(s) executed, 0 already in") and "4 model(s) trained from scratch" in lines[0]
    summary = [line for line in lines if line.startswith("tiny/")]
    assert [line.split(":")[0] for line in summary] == ["tiny/retrain", "tiny/finetune", "tiny/random_label_fast"]
    assert all("2 of 2 seed(s) stored (2 new, 0 already); mean " in line for line in summary)
