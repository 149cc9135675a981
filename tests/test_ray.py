"""Sweeps as Ray tasks: the same numbers as in-process, retried failures, recorded failures, tune too.

One local Ray instance (2 CPUs) serves the whole module; the CLI's
``--workers 2`` uses it instead of starting its own (a second start would
cost seconds per test). Starting and stopping Ray from the CLI is covered by
``test_the_cli_starts_and_stops_its_own_ray``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import closing

import pytest

from sweep_support import TINY, numbers
from unlearnkit.cli.main import main
from unlearnkit.faults import ENVIRONMENT_VARIABLE
from unlearnkit.store import StoreReader

ray = pytest.importorskip("ray")


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("sweep") / "tiny.toml"
    path.write_text(TINY)
    return str(path)


@pytest.fixture(scope="module")
def clean(config: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    store = str(tmp_path_factory.mktemp("clean") / "store.sqlite")
    assert main(["run", config, "--store", store, "--quiet"]) == 0
    return numbers(store)


@pytest.fixture(scope="module")
def session(clean: dict[str, object]) -> Iterator[None]:
    # After `clean`: the local run must not see a Ray session (it would not use it anyway).
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    yield
    ray.shutdown()


def test_two_workers_give_byte_identical_numbers(config, clean, session, tmp_path, capsys) -> None:
    store = str(tmp_path / "ray.sqlite")
    assert main(["run", config, "--store", store, "--quiet", "--workers", "2"]) == 0
    assert "6 run(s) executed, 0 already" in capsys.readouterr().err
    assert numbers(store) == clean
    # units see one seed each, but the store keeps the whole configuration (the report reads it)
    assert StoreReader(store).experiment_configs()["tiny"]["seeds"] == [0, 1]


def test_a_task_that_fails_once_is_retried_and_succeeds(config, clean, session, tmp_path, monkeypatch, capsys) -> None:
    faults = tmp_path / "faults"
    monkeypatch.setenv(ENVIRONMENT_VARIABLE, f"unit@tiny/random_label_fast/seed0:raise:1:{faults}")
    store = str(tmp_path / "ray.sqlite")
    assert main(["run", config, "--store", store, "--quiet", "--workers", "2"]) == 0
    assert sorted(p.name for p in faults.iterdir()) == ["unit.1", "unit.2"]
    assert numbers(store) == clean


def test_a_worker_killed_mid_training_is_replaced_and_the_task_rerun(config, clean, session, tmp_path, monkeypatch) -> None:
    faults = tmp_path / "faults"
    # SIGKILL the worker process at the 3rd epoch of seed 1's original: Ray sees a crashed worker and reruns the task.
    monkeypatch.setenv(ENVIRONMENT_VARIABLE, f"progress@:kill:3:{faults}")
    store = str(tmp_path / "ray.sqlite")
    assert main(["run", config, "--store", store, "--quiet", "--workers", "2"]) == 0
    assert numbers(store) == clean


def test_a_task_that_always_fails_is_recorded_and_the_command_fails(config, session, tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setenv(ENVIRONMENT_VARIABLE, f"unit@tiny/finetune/seed1:always:0:{tmp_path / 'faults'}")
    store = str(tmp_path / "ray.sqlite")
    assert main(["run", config, "--store", store, "--quiet", "--workers", "2", "--retries", "1"]) == 1
    err = " ".join(capsys.readouterr().err.split())
    assert "error: 1 of 12 unit(s) of work failed: tiny/finetune/seed1: InjectedFaultError: injected failure at 'unit'" in err
    assert "(after 2 attempt(s))" in err
    assert len(StoreReader(store).runs()) == 5


def test_tune_on_two_workers_scores_and_selects_exactly_as_in_process(config, session, tmp_path, capsys) -> None:
    args = ["tune", config, "--budget", "3", "--quiet"]
    local, remote = tmp_path / "local.toml", tmp_path / "ray.toml"
    assert main([*args, "--store", str(tmp_path / "local.sqlite"), "--output", str(local)]) == 0
    assert main([*args, "--store", str(tmp_path / "ray.sqlite"), "--output", str(remote), "--workers", "2"]) == 0
    # the same recipes, selected by the same gaps (only the measured seconds in the comments differ)
    untimed = [[line for line in path.read_text().splitlines() if not line.startswith("# selection gap")] for path in (local, remote)]
    assert untimed[0] == untimed[1]
    assert "[[experiment.methods]]" in local.read_text()
    trials = []
    for name in ("local.sqlite", "ray.sqlite"):
        with closing(sqlite3.connect(tmp_path / name)) as db:
            trials.append(db.execute("SELECT key, label, params, gap FROM tuning_trials ORDER BY key").fetchall())
    assert trials[0] == trials[1] and len(trials[0]) == 6


def test_the_cli_starts_and_stops_its_own_ray(config, clean, tmp_path) -> None:
    """The last test of the module: it stops the module's session first."""
    ray.shutdown()
    store = str(tmp_path / "ray.sqlite")
    assert main(["run", config, "--store", store, "--quiet", "--workers", "2"]) == 0
    assert not ray.is_initialized()
    assert numbers(store) == clean
