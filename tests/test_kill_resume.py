"""Crash safety: a real sweep killed with SIGKILL at chosen points resumes to exactly the uninterrupted numbers.

Each case runs ``unlearnkit run`` (or ``tune``) in a child process that
kills itself with SIGKILL at one point (:mod:`unlearnkit.faults`): in the
middle of training, inside a store transaction (after its rows are inserted,
before it commits), just after a commit, at the start of a unit of work.
Then the store must pass SQLite's integrity check and hold only whole
results, and re-running the same command in-process must compute only what
is missing and end with every number equal to an uninterrupted run's.

Children come from a fork server that imported unlearnkit once, so a kill
costs a fork, not an interpreter start.
"""

from __future__ import annotations

import multiprocessing
import os
import re
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from sweep_support import TINY, numbers, run_cli
from unlearnkit.cli.main import main
from unlearnkit.faults import ENVIRONMENT_VARIABLE
from unlearnkit.store import StoreReader

# One thread in the children as in this process (conftest): the same numbers need the same arithmetic.
THREADS = ["--cpus-per-unit", "1"]
TABLES = ("runs", "outputs", "reference_runs", "reference_outputs", "experiments", "current_runs", "tuning_trials", "models")

multiprocessing_context = multiprocessing.get_context("forkserver")
multiprocessing_context.set_forkserver_preload(["sweep_support", "unlearnkit.cli.main"])


def killed(argv: list[str], fault: str) -> int | None:
    child = multiprocessing_context.Process(target=run_cli, args=(argv, {ENVIRONMENT_VARIABLE: fault}))
    child.start()
    child.join(timeout=300)
    return child.exitcode


def integrity(store: Path) -> str:
    with closing(sqlite3.connect(store)) as db:
        return str(db.execute("PRAGMA integrity_check").fetchone()[0])


def row_counts(store: Path) -> dict[str, int]:
    with closing(sqlite3.connect(store)) as db:
        return {table: int(db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]) for table in TABLES}


def stray_files(folder: Path) -> list[str]:
    """Files other than the store and SQLite's own companions (a half-written checkpoint or report would show here)."""
    return sorted(p.name for p in folder.iterdir() if p.name not in {"store.sqlite", "store.sqlite-wal", "store.sqlite-shm", "faults"})


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("sweep") / "tiny.toml"
    path.write_text(TINY)
    return str(path)


@pytest.fixture(scope="module")
def clean(config: str, tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, object], dict[str, int]]:
    store = tmp_path_factory.mktemp("clean") / "store.sqlite"
    assert main(["run", config, "--store", str(store), "--quiet", *THREADS]) == 0
    return numbers(str(store)), row_counts(store)


# (point, what it interrupts); the local order of a seed's units is: original, reference, reference scores, 3 runs.
KILL_POINTS = [
    ("write@experiment:kill:1", "inside the transaction recording the configuration, before anything is trained"),
    ("progress:kill:7", "the 7th epoch of training the first original"),
    ("write@model:kill:2", "inside the transaction saving the second trained model (seed 0's reference)"),
    ("write@reference:kill:1", "inside the transaction writing the first reference's scores"),
    ("written@run:kill:2", "just after the second run was committed"),
    ("write@run:kill:4", "inside the transaction writing the fourth run (the first of seed 1)"),
    ("unit@tiny/finetune/seed1:kill:1", "as seed 1's finetune unit starts, after its models were trained"),
    ("write@model:kill:4", "inside the transaction saving the last model (seed 1's reference)"),
]


@pytest.mark.parametrize(("fault", "moment"), KILL_POINTS, ids=[f for f, _ in KILL_POINTS])
def test_a_run_killed_at_any_point_resumes_to_the_uninterrupted_numbers(config, clean, tmp_path, capsys, fault, moment) -> None:
    store = tmp_path / "store.sqlite"
    argv = ["run", config, "--store", str(store), "--quiet", *THREADS]
    assert killed(argv, f"{fault}:{tmp_path / 'faults'}") == -9, f"not killed {moment}"
    assert integrity(store) == "ok"
    expected_numbers, expected_counts = clean
    splits = expected_counts["outputs"] // expected_counts["runs"]
    before = row_counts(store)
    runs_before = len(StoreReader(str(store)).runs())
    assert before["outputs"] == splits * runs_before  # every stored run has all its splits' outputs: nothing half-written
    assert before["reference_outputs"] == splits * before["reference_runs"]

    capsys.readouterr()
    assert main(argv) == 0
    err = capsys.readouterr().err
    # only what was missing is computed: the runs, and the models trained from scratch
    assert f"{6 - runs_before} run(s) executed, {runs_before} already" in err
    assert f"{4 - before['models']} model(s) trained from scratch" in err
    assert integrity(store) == "ok"
    assert row_counts(store) == expected_counts
    assert numbers(str(store)) == expected_numbers
    assert stray_files(tmp_path) == []


def without_times(recipes: str) -> str:
    """A recipe file with its measured trial times blanked: they are wall-clock times, so they differ between runs."""
    return re.sub(r", [\d.]+ s on the tuning seed", ", _ s on the tuning seed", recipes)


def test_a_tune_killed_mid_write_resumes_with_only_the_missing_trials(config, tmp_path, capsys) -> None:
    uninterrupted, resumed = tmp_path / "uninterrupted.toml", tmp_path / "resumed.toml"
    args = ["tune", config, "--budget", "3", "--quiet", *THREADS]
    assert main([*args, "--store", str(tmp_path / "clean.sqlite"), "--output", str(uninterrupted)]) == 0
    store = tmp_path / "store.sqlite"
    argv = [*args, "--store", str(store), "--output", str(resumed)]
    assert killed(argv, f"write@trial:kill:4:{tmp_path / 'faults'}") == -9
    assert integrity(store) == "ok"
    assert row_counts(store)["tuning_trials"] == 3
    assert not resumed.exists()
    capsys.readouterr()
    assert main([a for a in argv if a != "--quiet"]) == 0
    assert capsys.readouterr().err.count("(stored)") == 3  # 6 trials: 3 read back, 3 run now
    assert without_times(resumed.read_text()) == without_times(uninterrupted.read_text())
    assert [name for name in stray_files(tmp_path) if not name.startswith("clean.sqlite")] == ["resumed.toml", "uninterrupted.toml"]


def test_the_kill_points_cover_training_writes_and_units() -> None:
    points = {fault.split(":")[0].split("@")[0] for fault, _ in KILL_POINTS}
    assert points == {"write", "written", "progress", "unit"}
    assert len(KILL_POINTS) >= 5
    assert os.environ.get(ENVIRONMENT_VARIABLE) is None  # no fault leaks into this process
