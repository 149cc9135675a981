"""A store written before schema versions (v0, tests/fixtures/store_v0.sqlite) migrates forward and reads unchanged.

The fixture was written by the pre-refactor code from tests/fixtures/store_v0.toml;
store_v0.report.json is what that code's ``report --format json`` printed.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from unlearnkit.cli.main import main
from unlearnkit.errors import StoreError
from unlearnkit.store import SCHEMA_VERSION, SQLiteStore, StoreReader
from unlearnkit.store.connection import APPLICATION_ID
from unlearnkit.store.schema import TABLES

FIXTURES = Path(__file__).parent / "fixtures"
FIXTURE = FIXTURES / "store_v0.sqlite"
REPORT = json.loads((FIXTURES / "store_v0.report.json").read_text())
V0_TABLES = ["runs", "outputs", "reference_runs", "reference_outputs", "experiments", "current_runs", "tuning_trials", "models"]
# The method classes of the fixture's configuration and the role each had.
EXPECTED_ROLES = {
    "Retrain": "retrain", "Original": "original", "Finetune": "method", "NegGrad": "method",
    "RetrainRec": "retrain", "OriginalRec": "original", "InfluenceRec": "method",
}


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _rows(path: Path, table: str) -> list[dict[str, Any]]:
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        db.row_factory = sqlite3.Row
        rows = [dict(row) for row in db.execute(f"SELECT * FROM {table}")]
    db.close()
    return rows


def _values(row: dict[str, Any], columns: list[str]) -> list[str]:
    """A row's values in ``columns``, comparable and sortable (blobs by hash)."""
    return [hashlib.sha256(row[c]).hexdigest() if isinstance(row[c], bytes) else json.dumps(row[c]) for c in columns]


@pytest.fixture
def v0_copy(tmp_path) -> Path:
    copy = tmp_path / "v0.sqlite"
    shutil.copyfile(FIXTURE, copy)
    return copy


def test_the_fixture_is_a_v0_store() -> None:
    with sqlite3.connect(f"file:{FIXTURE}?mode=ro", uri=True) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == 0
        assert db.execute("PRAGMA application_id").fetchone()[0] == 0
        columns = {row[1] for row in db.execute("PRAGMA table_info(runs)")}
    db.close()
    assert "role" not in columns and "reference_key" not in columns


def test_migration_keeps_every_row_and_fills_the_new_columns(v0_copy) -> None:
    before = {table: _rows(v0_copy, table) for table in V0_TABLES}
    SQLiteStore(str(v0_copy)).migrate()
    with sqlite3.connect(v0_copy) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert db.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert db.execute("PRAGMA foreign_key_check").fetchall() == []
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    db.close()
    after = {table: _rows(v0_copy, table) for table in V0_TABLES}
    for table in V0_TABLES:
        old_columns = list(before[table][0]) if before[table] else []
        # every row, every old value (blobs included) unchanged
        old_values = sorted(_values(row, old_columns) for row in before[table])
        assert sorted(_values(row, old_columns) for row in after[table]) == old_values, table
    assert len(after["runs"]) == 15 and len(after["outputs"]) == 63 and len(after["models"]) == 8

    reference_keys = {row["reference_key"] for row in after["reference_runs"]}
    assert len(reference_keys) == 4
    for run in after["runs"]:
        config = json.loads(run["config"])
        assert run["role"] == EXPECTED_ROLES[run["method"]]
        if run["experiment"] == "v0_recommendation":
            assert run["kind"] == "recommendation"
            assert run["peak_memory_mib"] == json.loads(run["diagnostics"])["peak_memory_mib"] is not None
            assert run["reference_key"] not in reference_keys  # v0 stored no reference for recommenders
        else:
            assert run["kind"] == "classification" and run["peak_memory_mib"] is None
            assert run["reference_key"] in reference_keys
            reference = next(r for r in after["reference_runs"] if r["reference_key"] == run["reference_key"])
            assert reference["seed"] == run["seed"] and json.loads(reference["config"])["setting"] == config["setting"]
    # one reference per (experiment, seed): runs of another seed or experiment point elsewhere
    pairs = {(r["experiment"], r["seed"]): r["reference_key"] for r in after["runs"]}
    assert len(set(pairs.values())) == len(pairs) == 5
    for reference in after["reference_runs"]:
        assert reference["kind"] == "classification"
        assert reference["experiment"] == json.loads(reference["config"])["experiment"] in {"v0_untraining", "v0_unlearning"}


def test_a_migrated_store_has_the_layout_of_a_new_one(v0_copy, tmp_path) -> None:
    SQLiteStore(str(v0_copy)).migrate()
    fresh = tmp_path / "fresh.sqlite"
    SQLiteStore(str(fresh)).migrate()

    def layout(path: Path) -> dict[str, Any]:
        with sqlite3.connect(path) as db:
            shape = {
                t: (db.execute(f"PRAGMA table_info({t})").fetchall(), db.execute(f"PRAGMA foreign_key_list({t})").fetchall())
                for t in TABLES
            }
        db.close()
        return shape

    assert layout(v0_copy) == layout(fresh)


def test_reading_a_v0_store_read_only_changes_nothing_and_equals_the_migrated_store(v0_copy, tmp_path) -> None:
    before_sha, before_files = _sha(v0_copy), sorted(os.listdir(v0_copy.parent))
    reader = StoreReader(str(v0_copy))
    runs, current, references, configs = reader.runs(), reader.current_runs(), reader.references(), reader.experiment_configs()
    outputs = {r.run_key: reader.outputs(r.run_key) for r in runs}
    assert _sha(v0_copy) == before_sha and sorted(os.listdir(v0_copy.parent)) == before_files

    assert {r.method: r.role for r in runs} == EXPECTED_ROLES
    assert all(r.reference_key in references for r in runs if r.kind == "classification")
    migrated = tmp_path / "migrated.sqlite"
    shutil.copyfile(FIXTURE, migrated)
    store = SQLiteStore(str(migrated))
    store.migrate()
    assert store.runs() == runs and store.current_runs() == current
    assert store.references() == references and store.experiment_configs() == configs
    for key, arrays in outputs.items():
        again = store.outputs(key)
        assert all((again[s][0] == arrays[s][0]).all() and (again[s][1] == arrays[s][1]).all() for s in arrays)


def test_writing_to_a_v0_store_migrates_it_first(v0_copy) -> None:
    store = SQLiteStore(str(v0_copy))
    assert store.load_trial("new") is None  # reading does not migrate
    with sqlite3.connect(v0_copy) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == 0
    db.close()
    store.save_trial("new", "v0_untraining", "finetune", {"lr": 0.1}, 0.5, 1.0)
    with sqlite3.connect(v0_copy) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    db.close()
    assert store.load_trial("new") == (0.5, 1.0) and len(store.runs()) == 15


def test_a_failed_migration_leaves_the_store_as_it_was(v0_copy) -> None:
    with sqlite3.connect(v0_copy) as db:  # a damaged row: its configuration is not JSON
        db.execute("UPDATE runs SET config = 'not json' WHERE rowid = (SELECT MAX(rowid) FROM runs)")
    db.close()
    before = _sha(v0_copy)
    store = SQLiteStore(str(v0_copy))
    with pytest.raises(StoreError, match=f"^store {v0_copy}: cannot be used: user-defined function raised exception"):
        store.migrate()
    assert _sha(v0_copy) == before
    with sqlite3.connect(v0_copy) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == 0
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert db.execute("SELECT COUNT(*) FROM outputs").fetchone()[0] == 63  # no cascade from the rebuilt runs table
    db.close()


def test_a_v0_store_missing_a_table_is_refused(v0_copy) -> None:
    with sqlite3.connect(v0_copy) as db:
        db.execute("DROP TABLE current_runs")
    db.close()
    before = _sha(v0_copy)
    for opener in (StoreReader, SQLiteStore):
        with pytest.raises(StoreError, match=f"^store {v0_copy}: is missing the table\\(s\\) current_runs of schema 0"):
            opener(str(v0_copy))
    assert _sha(v0_copy) == before


def test_cli_report_of_the_v0_fixture_is_unchanged_and_never_writes_it() -> None:
    before = _sha(FIXTURE)
    result = subprocess.run(
        [sys.executable, "-m", "unlearnkit", "report", "--store", str(FIXTURE), "--format", "json"],
        capture_output=True, text=True, check=False,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == REPORT
    assert _sha(FIXTURE) == before
    assert sorted(p.name for p in FIXTURES.iterdir() if p.name.startswith("store_v0.sqlite")) == ["store_v0.sqlite"]


def test_the_migrated_fixture_reports_the_same_numbers(v0_copy, capsys) -> None:
    SQLiteStore(str(v0_copy)).migrate()
    assert main(["report", "--store", str(v0_copy), "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out) == REPORT


def test_values_an_interim_v0_store_already_has_are_kept(v0_copy) -> None:
    """Stores written between the kind registry and schema 1 have the new columns at user_version 0: they are copied."""
    with sqlite3.connect(v0_copy) as db:
        for column, declaration in (("kind", "TEXT"), ("role", "TEXT"), ("reference_key", "TEXT"), ("peak_memory_mib", "REAL")):
            db.execute(f"ALTER TABLE runs ADD COLUMN {column} {declaration}")
        db.execute("UPDATE runs SET kind = 'stored kind', role = 'method', reference_key = 'stored key', peak_memory_mib = 42.0")
        db.execute("ALTER TABLE reference_runs ADD COLUMN experiment TEXT")
        db.execute("ALTER TABLE reference_runs ADD COLUMN kind TEXT")
        db.execute("UPDATE reference_runs SET experiment = 'stored experiment', kind = 'stored kind'")
    db.close()
    read = StoreReader(str(v0_copy))
    runs, references = read.runs(), read.references()
    assert {(r.kind, r.role, r.reference_key, r.peak_memory_mib) for r in runs} == {("stored kind", "method", "stored key", 42.0)}
    assert {(r.experiment, r.kind) for r in references.values()} == {("stored experiment", "stored kind")}
    store = SQLiteStore(str(v0_copy))
    store.migrate()
    assert store.runs() == runs and store.references() == references
