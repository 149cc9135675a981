"""The SQLite store: round trips by column name, schema pragmas, atomic writes, read-only opening and refusals."""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from unlearnkit.cli.main import main
from unlearnkit.errors import StoreError
from unlearnkit.store import SCHEMA_VERSION, ReferenceRecord, RunRecord, SQLiteStore, StoreReader
from unlearnkit.store.connection import APPLICATION_ID
from unlearnkit.store.schema import TABLES

CONFIG = Path(__file__).parent / "fixtures" / "store_v0.toml"
INFO = {"forget_acc": {"direction": "reference", "goals": ["untraining"], "notion": "untraining", "needs_reference": False}}


def _run(key: str = "run-a", **changes: Any) -> RunRecord:
    fields: dict[str, Any] = {
        "run_key": key, "experiment": "exp", "experiment_position": 1, "kind": "classification", "method": "Finetune",
        "role": "method", "label": "finetune", "method_position": 2, "seed": 3, "goal": "untraining", "seconds": 0.25,
        "peak_memory_mib": 12.5, "metrics": {"forget_acc": 0.5, "wall_time": 0.25}, "metric_info": INFO,
        "diagnostics": {"steps": 7, "note": "x"}, "version": "0.1.0", "reference_key": "ref-3",
        "config": {"setting": {"goal": "untraining"}, "metrics": [["forget_acc", {}]], "seed": 3},
    }
    fields.update(changes)
    return RunRecord(**fields)


def _reference(key: str = "ref-3", seed: int = 3) -> ReferenceRecord:
    return ReferenceRecord(
        reference_key=key, experiment="exp", kind="classification", goal="untraining", seed=seed, seconds=1.5,
        metrics={"forget_acc": 0.75}, metric_info=INFO, config={"setting": {"goal": "untraining"}, "seed": seed}, version="0.1.0",
    )


def _outputs(seed: int, splits: tuple[str, ...] = ("forget", "test")) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(seed)
    return {s: (rng.normal(size=(5, 3)).astype(np.float32), rng.integers(0, 3, size=5).astype(np.int64)) for s in splits}


def _same_outputs(a: dict[str, tuple[np.ndarray, np.ndarray]], b: dict[str, tuple[np.ndarray, np.ndarray]]) -> bool:
    return a.keys() == b.keys() and all(
        np.array_equal(a[s][i], b[s][i]) and a[s][i].dtype == b[s][i].dtype for s in a for i in (0, 1)
    )


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _store_with_everything(path: Path) -> SQLiteStore:
    store = SQLiteStore(str(path))
    store.write_reference(_reference(), _outputs(0))
    store.write_run(_run(), _outputs(1))
    store.save_experiment("exp", 1, {"name": "exp", "seeds": [3]}, ["run-a"])
    store.save_trial("trial", "exp", "finetune", {"lr": 0.1}, 0.5, 2.0)
    store.save_model("model", "original", {"weight": torch.arange(6.0).reshape(2, 3)}, {"seconds": 1.0})
    return store


# --------------------------------------------------------------------------- schema and round trips


def test_a_new_store_has_the_schema_version_wal_and_foreign_keys(tmp_path) -> None:
    path = tmp_path / "deep" / "folder" / "s.sqlite"
    _store_with_everything(path)
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 4
        assert db.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert tables == set(TABLES)
        columns = [row[1] for row in db.execute("PRAGMA table_info(runs)")]
        assert columns == list(TABLES["runs"].column_names)
        assert {"kind", "role", "reference_key", "peak_memory_mib"} <= set(columns)
        parents = {row[2] for row in db.execute("PRAGMA foreign_key_list(outputs)")}
        assert parents == {"runs"}


def test_runs_round_trip_by_column_name(tmp_path) -> None:
    store = SQLiteStore(str(tmp_path / "s.sqlite"))
    first, second = _run(), _run("run-b", kind="recommendation", role="retrain", method="RetrainRec", peak_memory_mib=None, seed=4)
    store.write_run(first, _outputs(1))
    store.write_run(second, _outputs(2, ("forget",)))
    assert store.runs() == [first, second]  # ordered by position, label, seed
    assert store.has_run("run-a") and not store.has_run("run-c")
    assert _same_outputs(store.outputs("run-a"), _outputs(1))
    assert _same_outputs(store.outputs("run-b"), _outputs(2, ("forget",)))
    with pytest.raises(KeyError, match="no outputs stored for run run-c"):
        store.outputs("run-c")


def test_references_round_trip(tmp_path) -> None:
    store = SQLiteStore(str(tmp_path / "s.sqlite"))
    assert not store.has_reference("ref-3")
    store.write_reference(_reference(), _outputs(0))
    store.write_reference(_reference("ref-4", 4), _outputs(5))
    assert store.references() == {"ref-3": _reference(), "ref-4": _reference("ref-4", 4)}
    assert store.has_reference("ref-4")
    assert _same_outputs(store.reference_outputs("ref-4"), _outputs(5))
    with pytest.raises(KeyError, match="no outputs stored for reference ref-5"):
        store.reference_outputs("ref-5")


def test_experiments_current_runs_trials_and_models_round_trip(tmp_path) -> None:
    store = SQLiteStore(str(tmp_path / "s.sqlite"))
    store.write_run(_run("old", label="a"), _outputs(1))
    store.write_run(_run("new", label="b"), _outputs(2))
    store.write_run(_run("other", experiment="exp2"), _outputs(3))  # an experiment without a stored configuration
    store.save_experiment("exp", 0, {"name": "exp", "seeds": [3]}, ["old"])
    store.save_experiment("exp", 0, {"name": "exp", "seeds": [3, 4]}, ["new"])  # the latest configuration replaces the first
    assert [r.run_key for r in store.current_runs()] == ["new", "other"]
    assert store.experiment_configs() == {"exp": {"name": "exp", "seeds": [3, 4]}}

    assert store.load_trial("t") is None
    store.save_trial("t", "exp", "finetune", {"lr": 0.1}, float("inf"), 2.5)
    assert store.load_trial("t") == (float("inf"), 2.5)

    assert store.load_model("m") is None and store.model_count() == 0
    state = {"weight": torch.randn(3, 2), "steps": torch.tensor(4)}
    store.save_model("m", "original", state, {"seconds": 1.25, "n_train": 10})
    loaded, meta = store.load_model("m")
    assert loaded.keys() == state.keys() and all(torch.equal(loaded[k], state[k]) for k in state)
    assert meta == {"seconds": 1.25, "n_train": 10} and store.model_count() == 1


def test_records_are_keyword_only_and_check_the_role() -> None:
    with pytest.raises(TypeError):
        RunRecord("k", "exp")  # type: ignore[misc]  # positional construction is what this test forbids
    with pytest.raises(ValueError, match="role must be one of"):
        _run(role="reference")


def test_writing_a_run_again_replaces_it_and_all_its_outputs(tmp_path) -> None:
    store = SQLiteStore(str(tmp_path / "s.sqlite"))
    store.write_run(_run(), _outputs(1, ("forget", "test", "retain")))
    store.write_run(_run(seconds=9.0), _outputs(2, ("forget",)))
    assert [r.seconds for r in store.runs()] == [9.0]
    assert _same_outputs(store.outputs("run-a"), _outputs(2, ("forget",)))


# --------------------------------------------------------------------------- crash safety


def test_a_failed_run_write_leaves_no_row(tmp_path) -> None:
    path = tmp_path / "s.sqlite"
    store = SQLiteStore(str(path))
    store.save_experiment("exp", 0, {}, [])
    bad = {**_outputs(1), None: _outputs(2)["forget"]}  # the second output row breaks NOT NULL after the run row is in
    with pytest.raises(sqlite3.IntegrityError):
        store.write_run(_run(), bad)  # type: ignore[arg-type]  # a None split is the injected fault
    assert not store.has_run("run-a") and store.runs() == []
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT COUNT(*) FROM outputs").fetchone()[0] == 0


def test_a_failed_replacement_keeps_the_earlier_run(tmp_path) -> None:
    store = SQLiteStore(str(tmp_path / "s.sqlite"))
    store.write_run(_run(), _outputs(1))
    with pytest.raises(sqlite3.IntegrityError):
        store.write_run(_run(seconds=9.0), {**_outputs(2), None: _outputs(3)["forget"]})  # type: ignore[arg-type]  # the None split fails mid-write
    assert store.runs() == [_run()]
    assert _same_outputs(store.outputs("run-a"), _outputs(1))


def test_reading_never_creates_a_file(tmp_path) -> None:
    path = tmp_path / "missing" / "s.sqlite"
    store = SQLiteStore(str(path))
    assert not store.has_run("x") and not store.has_reference("x")
    assert store.load_trial("x") is None and store.load_model("x") is None and store.model_count() == 0
    with pytest.raises(StoreError, match=f"store {path}: the file does not exist"):
        store.runs()
    assert not (tmp_path / "missing").exists()


def test_a_pickled_checkpoint_is_refused_and_never_executed(tmp_path) -> None:
    path = tmp_path / "s.sqlite"
    store = _store_with_everything(path)
    marker = tmp_path / "executed"

    class Payload:
        def __reduce__(self) -> tuple[Any, ...]:
            return (os.mkdir, (str(marker),))

    buffer = io.BytesIO()
    torch.save({"weight": Payload()}, buffer)
    for blob in (buffer.getvalue(), b"not a checkpoint"):
        with sqlite3.connect(path) as db:
            db.execute("UPDATE models SET state = ? WHERE key = 'model'", (blob,))
        with pytest.raises(StoreError, match=f"store {path}: the checkpoint of model model cannot be loaded"):
            store.load_model("model")
    assert not marker.exists()


# --------------------------------------------------------------------------- read-only opening and refusals


def test_a_reader_never_changes_the_store(tmp_path) -> None:
    path = tmp_path / "s.sqlite"
    _store_with_everything(path)
    before = _sha(path)
    reader = StoreReader(str(path))
    assert [r.run_key for r in reader.runs()] == ["run-a"] and reader.current_runs() == reader.runs()
    assert reader.references() == {"ref-3": _reference()} and reader.experiment_configs()
    assert reader.load_model("model") is not None and reader.load_trial("trial") == (0.5, 2.0)
    assert not hasattr(reader, "write_run")
    assert _sha(path) == before


def _folder(path: Path) -> None:
    path.mkdir()


def _empty(path: Path) -> None:
    path.write_bytes(b"")


def _random_bytes(path: Path) -> None:
    path.write_bytes(np.random.default_rng(0).bytes(8192))


def _foreign_sqlite(path: Path) -> None:
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE songs (title TEXT)")
    db.close()


def _sqlite_without_tables(path: Path) -> None:
    db = sqlite3.connect(path)
    db.execute("PRAGMA journal_mode = WAL")  # writes the header: a valid, empty database
    db.close()


def _newer_schema(path: Path) -> None:
    _store_with_everything(path)
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA user_version = 7")
    db.close()


def _missing_table(path: Path) -> None:
    _store_with_everything(path)
    with sqlite3.connect(path) as db:
        db.execute("DROP TABLE tuning_trials")
    db.close()


BAD_STORES = {
    "folder": (_folder, "is a folder, not a store file"),
    "empty file": (_empty, "is an empty file, not an unlearnkit store"),
    "random bytes": (_random_bytes, "is not an SQLite database, so not an unlearnkit store"),
    "another program's database": (_foreign_sqlite, r"is an SQLite database but not an unlearnkit store \(it has tables \['songs'\]\)"),
    "database without tables": (_sqlite_without_tables, r"is an SQLite database but not an unlearnkit store \(it has no tables\)"),
    "newer schema": (_newer_schema, r"written by a newer unlearnkit \(schema 7; this version reads up to 4\)"),
    "missing table": (_missing_table, "is missing the table\\(s\\) tuning_trials of schema 4: the store is damaged"),
}


def _snapshot(path: Path) -> dict[str, str]:
    """Every file in the store's folder, with its content hash (a folder store: its listing)."""
    folder = path.parent
    return {p.name: (_sha(p) if p.is_file() else "folder") for p in sorted(folder.iterdir())}


@pytest.mark.parametrize("case", sorted(BAD_STORES))
@pytest.mark.parametrize("opener", [StoreReader, SQLiteStore])
def test_bad_stores_are_refused_naming_the_path_and_changed_by_nothing(tmp_path, case, opener) -> None:
    make, problem = BAD_STORES[case]
    path = tmp_path / "store.sqlite"
    make(path)
    before = _snapshot(path)
    with pytest.raises(StoreError, match=f"^store {path}: {problem}"):
        opener(str(path))
    assert _snapshot(path) == before
    command = ["report", "--store", str(path)] if opener is StoreReader else ["run", str(CONFIG), "--store", str(path), "--quiet"]
    assert main(command) == 2  # refused before anything is trained
    assert _snapshot(path) == before


def test_a_missing_store_is_refused_for_reading(tmp_path) -> None:
    path = tmp_path / "none.sqlite"
    with pytest.raises(StoreError, match=f"^store {path}: the file does not exist"):
        StoreReader(str(path))
    assert not path.exists()


def test_a_truncated_store_is_refused_when_read(tmp_path) -> None:
    path = tmp_path / "s.sqlite"
    _store_with_everything(path)
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        db.execute("PRAGMA journal_mode = DELETE")  # everything in the one file, so truncating it loses pages
    db.close()
    path.write_bytes(path.read_bytes()[:4096])
    with pytest.raises(StoreError, match=f"^store {path}: cannot be used: database disk image is malformed"):
        StoreReader(str(path)).runs()


def test_a_store_that_cannot_be_created_is_refused_before_anything_is_written(tmp_path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    path = blocker / "s.sqlite"
    with pytest.raises(StoreError, match=f"^store {path}: cannot be created: {blocker} is not a folder"):
        SQLiteStore(str(path))


@contextlib.contextmanager
def _read_only(path: Path) -> Iterator[None]:
    """Make a file or folder unwritable, also for root (the immutable attribute), or skip the test."""
    if os.geteuid() != 0:
        mode = path.stat().st_mode
        path.chmod(0o555 if path.is_dir() else 0o444)
        try:
            yield
        finally:
            path.chmod(mode)
        return
    if shutil.which("chattr") is None or subprocess.run(["chattr", "+i", str(path)], capture_output=True, check=False).returncode != 0:
        pytest.skip("root can write anywhere unless chattr +i works here")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(path)], check=True)


def test_a_read_only_folder_or_file_is_refused_for_writing(tmp_path) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    with _read_only(folder):
        with pytest.raises(StoreError, match=f"^store {folder / 's.sqlite'}: cannot be created: the folder {folder} is not writable"):
            SQLiteStore(str(folder / "s.sqlite"))
        nested = folder / "sub" / "s.sqlite"
        with pytest.raises(StoreError, match=f"^store {nested}: cannot be created: the folder {folder} is not writable"):
            SQLiteStore(str(folder / "sub" / "s.sqlite"))
    path = tmp_path / "s.sqlite"
    _store_with_everything(path)
    before = _sha(path)
    with _read_only(tmp_path):  # a store in WAL mode is still read, without its -wal/-shm companion files
        assert [r.run_key for r in StoreReader(str(path)).runs()] == ["run-a"]
        with pytest.raises(StoreError, match=f"^store {path}: its folder {tmp_path} is not writable"):
            SQLiteStore(str(path))
    assert sorted(os.listdir(tmp_path)) == ["ro", "s.sqlite"]
    with _read_only(path):
        with pytest.raises(StoreError, match=f"^store {path}: the file is not writable"):
            SQLiteStore(str(path))
        assert [r.run_key for r in StoreReader(str(path)).runs()] == ["run-a"]  # reading still works
    store = SQLiteStore(str(path))
    # the file became read-only after the store was opened: the write fails cleanly
    with _read_only(path), pytest.raises(StoreError, match=f"^store {path}: the file is not writable"):
        store.write_run(_run("run-b"), _outputs(2))
    assert _sha(path) == before and not store.has_run("run-b")
