"""The embedded store: one SQLite file holding runs, per-example outputs and model checkpoints.

:class:`StoreReader` opens the file strictly read-only (reports);
:class:`SQLiteStore` also writes (runs, tuning), creating the file on the
first write and migrating an older store then. Every write is one
transaction; reading never creates a file. The layout is in :mod:`.schema`.
"""

from __future__ import annotations

import io
import json
import os
import pickle
import sqlite3
import time
import zipfile
from contextlib import AbstractContextManager
from typing import Any

import numpy as np
import torch

from unlearnkit.errors import StoreError
from unlearnkit.safe_load import load_tensors
from unlearnkit.store.connection import check_store, check_writable_location, open_for_writing, open_read_only
from unlearnkit.store.records import Arrays, FailureRecord, Outputs, ReferenceRecord, RunRecord
from unlearnkit.store.schema import TABLES


def _array_blob(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def _blob_array(blob: bytes) -> np.ndarray:
    array: np.ndarray = np.load(io.BytesIO(blob), allow_pickle=False)
    return array


def _output_rows(key_column: str, key: str, outputs: Outputs) -> list[dict[str, Any]]:
    return [
        {key_column: key, "split": split, "logits": _array_blob(logits), "labels": _array_blob(labels)}
        for split, (logits, labels) in outputs.items()
    ]


def _outputs(rows: list[sqlite3.Row]) -> Outputs:
    return {row["split"]: (_blob_array(row["logits"]), _blob_array(row["labels"])) for row in rows}


def _array_rows(owner: str, arrays: Arrays) -> list[dict[str, Any]]:
    return [{"owner": owner, "name": name, "array": _array_blob(np.asarray(array))} for name, array in sorted(arrays.items())]


def _run_row(record: RunRecord) -> dict[str, Any]:
    return {
        "run_key": record.run_key,
        "experiment": record.experiment,
        "experiment_position": record.experiment_position,
        "kind": record.kind,
        "method": record.method,
        "role": record.role,
        "label": record.label,
        "method_position": record.method_position,
        "seed": record.seed,
        "goal": record.goal,
        "seconds": record.seconds,
        "peak_memory_mib": record.peak_memory_mib,
        "metrics": json.dumps(record.metrics),
        "metric_info": json.dumps(record.metric_info),
        "diagnostics": json.dumps(record.diagnostics, default=str),
        "config": json.dumps(record.config, sort_keys=True),
        "version": record.version,
        "reference_key": record.reference_key,
        "created_at": time.time(),
    }


def _run_record(row: sqlite3.Row) -> RunRecord:
    return RunRecord(
        run_key=row["run_key"],
        experiment=row["experiment"],
        experiment_position=row["experiment_position"],
        kind=row["kind"],
        method=row["method"],
        role=row["role"],
        label=row["label"],
        method_position=row["method_position"],
        seed=row["seed"],
        goal=row["goal"],
        seconds=row["seconds"],
        peak_memory_mib=row["peak_memory_mib"],
        metrics=json.loads(row["metrics"]),
        metric_info=json.loads(row["metric_info"]),
        diagnostics=json.loads(row["diagnostics"]),
        config=json.loads(row["config"]),
        version=row["version"],
        reference_key=row["reference_key"],
    )


def _reference_row(record: ReferenceRecord) -> dict[str, Any]:
    return {
        "reference_key": record.reference_key,
        "experiment": record.experiment,
        "kind": record.kind,
        "goal": record.goal,
        "seed": record.seed,
        "seconds": record.seconds,
        "metrics": json.dumps(record.metrics),
        "metric_info": json.dumps(record.metric_info),
        "config": json.dumps(record.config, sort_keys=True),
        "version": record.version,
        "created_at": time.time(),
    }


def _reference_record(row: sqlite3.Row) -> ReferenceRecord:
    return ReferenceRecord(
        reference_key=row["reference_key"],
        experiment=row["experiment"],
        kind=row["kind"],
        goal=row["goal"],
        seed=row["seed"],
        seconds=row["seconds"],
        metrics=json.loads(row["metrics"]),
        metric_info=json.loads(row["metric_info"]),
        config=json.loads(row["config"]),
        version=row["version"],
    )


_RUN_ORDER = " ORDER BY experiment_position, experiment, method_position, label, seed"


class StoreReader:
    """A store opened strictly read-only: it never creates, migrates or changes the file.

    The file is checked when the reader is made; a store of an older schema
    reads as if migrated (nothing is written).
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self._check()

    def _check(self) -> None:
        check_store(self.path)

    def exists(self) -> bool:
        return os.path.exists(self.path)

    def _snapshot(self) -> AbstractContextManager[sqlite3.Connection]:
        """A read-only view of the store in which every read of one block sees the same state."""
        return open_read_only(self.path)

    def _select(self, sql: str, parameters: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        with self._snapshot() as db:
            return db.execute(sql, parameters).fetchall()

    def _lookup(self, sql: str, parameters: tuple[Any, ...]) -> sqlite3.Row | None:
        """One row, or None; also None when there is no store file yet (a writer before its first write)."""
        if not self.exists():
            return None
        rows = self._select(sql, parameters)
        return rows[0] if rows else None

    # -- runs -------------------------------------------------------------
    def has_run(self, run_key: str) -> bool:
        return self._lookup("SELECT 1 FROM runs WHERE run_key = ?", (run_key,)) is not None

    def runs(self) -> list[RunRecord]:
        return [_run_record(row) for row in self._select(TABLES["runs"].select_sql() + _RUN_ORDER)]

    def current_runs(self) -> list[RunRecord]:
        """The runs of each experiment's latest configuration.

        An experiment with no recorded configuration (a store written before
        configurations were kept) contributes all its runs.
        """
        with self._snapshot() as db:
            current = db.execute("SELECT experiment, run_key FROM current_runs").fetchall()
            rows = db.execute(TABLES["runs"].select_sql() + _RUN_ORDER).fetchall()
        keys: dict[str, set[str]] = {}
        for row in current:
            keys.setdefault(row["experiment"], set()).add(row["run_key"])
        records = [_run_record(row) for row in rows]
        return [r for r in records if r.experiment not in keys or r.run_key in keys[r.experiment]]

    def outputs(self, run_key: str) -> Outputs:
        rows = self._select("SELECT split, logits, labels FROM outputs WHERE run_key = ?", (run_key,))
        if not rows:
            raise KeyError(f"no outputs stored for run {run_key}")
        return _outputs(rows)

    # -- references ---------------------------------------------------------
    def has_reference(self, reference_key: str) -> bool:
        return self._lookup("SELECT 1 FROM reference_runs WHERE reference_key = ?", (reference_key,)) is not None

    def references(self) -> dict[str, ReferenceRecord]:
        """Every stored reference, by key."""
        rows = self._select(TABLES["reference_runs"].select_sql() + " ORDER BY created_at, reference_key")
        return {row["reference_key"]: _reference_record(row) for row in rows}

    def reference_outputs(self, reference_key: str) -> Outputs:
        rows = self._select("SELECT split, logits, labels FROM reference_outputs WHERE reference_key = ?", (reference_key,))
        if not rows:
            raise KeyError(f"no outputs stored for reference {reference_key}")
        return _outputs(rows)

    # -- named arrays of runs and references ---------------------------------
    def arrays(self, owner: str) -> Arrays:
        """The named arrays stored with a run or a reference (empty when it stored none)."""
        rows = self._select("SELECT name, array FROM arrays WHERE owner = ? ORDER BY name", (owner,))
        return {row["name"]: _blob_array(row["array"]) for row in rows}

    # -- experiment configurations ------------------------------------------
    def experiment_configs(self) -> dict[str, dict[str, Any]]:
        """The latest configuration stored for each experiment name."""
        rows = self._select("SELECT name, config FROM experiments ORDER BY position, name")
        return {row["name"]: json.loads(row["config"]) for row in rows}

    # -- tuning trials ------------------------------------------------------
    def load_trial(self, key: str) -> tuple[float, float] | None:
        """(gap, seconds) of a stored tuning trial; gap is inf for a setting that diverged."""
        row = self._lookup("SELECT gap, seconds FROM tuning_trials WHERE key = ?", (key,))
        return None if row is None else (float(row["gap"]), float(row["seconds"]))

    # -- model cache --------------------------------------------------------
    def load_model(self, key: str) -> tuple[dict[str, torch.Tensor], dict[str, Any]] | None:
        """A cached state dict and its metadata; a checkpoint that is not plain tensors is refused, never executed."""
        row = self._lookup("SELECT state, meta FROM models WHERE key = ?", (key,))
        if row is None:
            return None
        try:
            state = load_tensors(io.BytesIO(row["state"]))
        except (pickle.UnpicklingError, RuntimeError, EOFError, zipfile.BadZipFile) as error:
            raise StoreError(f"store {self.path}: the checkpoint of model {key} cannot be loaded ({type(error).__name__})") from error
        return state, json.loads(row["meta"])

    def model_keys(self) -> list[str]:
        return [str(row["key"]) for row in self._select("SELECT key FROM models ORDER BY key")] if self.exists() else []

    # -- failures ---------------------------------------------------------
    def failures(self, command: str | None = None) -> list[FailureRecord]:
        """The units that failed in the last ``run`` / ``tune`` of each experiment (every command's when None)."""
        if not self.exists():
            return []
        where, parameters = ("WHERE command = ?", (command,)) if command else ("", ())
        rows = self._select(f"SELECT * FROM failures {where} ORDER BY experiment, created_at, unit", parameters)
        return [
            FailureRecord(
                key=row["key"], command=row["command"], experiment=row["experiment"], unit=row["unit"], error=row["error"],
                traceback=row["traceback"], attempts=row["attempts"], blocked_by=row["blocked_by"],
            )
            for row in rows
        ]

    def has_model(self, key: str) -> bool:
        return self._lookup("SELECT 1 FROM models WHERE key = ?", (key,)) is not None

    def model_seconds(self, key: str) -> float | None:
        """The training time recorded with a cached model (None when it is not stored)."""
        row = self._lookup("SELECT meta FROM models WHERE key = ?", (key,))
        return None if row is None else float(json.loads(row["meta"])["seconds"])

    def model_count(self) -> int:
        row = self._lookup("SELECT COUNT(*) AS n FROM models", ())
        return 0 if row is None else int(row["n"])


class SQLiteStore(StoreReader):
    """A store that also writes: the file is created on the first write, and an older store is migrated then.

    Making one checks an existing file (and that a missing one could be
    created) without writing anything.
    """

    def _check(self) -> None:
        if os.path.lexists(self.path):
            check_store(self.path)
        check_writable_location(self.path)

    def _snapshot(self) -> AbstractContextManager[sqlite3.Connection]:
        return open_read_only(self.path, writer=True)

    def migrate(self) -> None:
        """Bring the file to the current schema now (otherwise the first write does)."""
        with open_for_writing(self.path):
            pass

    def write_run(self, record: RunRecord, outputs: Outputs, arrays: Arrays | None = None) -> None:
        """Write a run, its per-example outputs and its named arrays atomically (replacing an earlier copy)."""
        row, output_rows = _run_row(record), _output_rows("run_key", record.run_key, outputs)
        array_rows = _array_rows(record.run_key, arrays or {})
        with open_for_writing(self.path, "run") as db:
            db.execute("DELETE FROM runs WHERE run_key = ?", (record.run_key,))  # its outputs go with it (cascade)
            db.execute("DELETE FROM arrays WHERE owner = ?", (record.run_key,))
            db.execute(TABLES["runs"].insert_sql(), row)
            db.executemany(TABLES["outputs"].insert_sql(), output_rows)
            db.executemany(TABLES["arrays"].insert_sql(), array_rows)

    def write_reference(self, record: ReferenceRecord, outputs: Outputs, arrays: Arrays | None = None) -> None:
        """Write a reference, its per-example outputs and its named arrays atomically (replacing an earlier copy)."""
        row, output_rows = _reference_row(record), _output_rows("reference_key", record.reference_key, outputs)
        array_rows = _array_rows(record.reference_key, arrays or {})
        with open_for_writing(self.path, "reference") as db:
            db.execute("DELETE FROM reference_runs WHERE reference_key = ?", (record.reference_key,))
            db.execute("DELETE FROM arrays WHERE owner = ?", (record.reference_key,))
            db.execute(TABLES["reference_runs"].insert_sql(), row)
            db.executemany(TABLES["reference_outputs"].insert_sql(), output_rows)
            db.executemany(TABLES["arrays"].insert_sql(), array_rows)

    def save_experiment(self, name: str, position: int, config: dict[str, Any], run_keys: list[str]) -> None:
        """Record the latest configuration of ``name`` and the run keys it asks for, in one transaction.

        Nothing is written when the store already holds exactly this (a re-run of a finished sweep changes no byte).
        """
        row = {"name": name, "position": position, "config": json.dumps(config, sort_keys=True), "updated_at": time.time()}
        if self.exists():
            with self._snapshot() as db:
                stored = db.execute("SELECT position, config FROM experiments WHERE name = ?", (name,)).fetchone()
                keys = {r["run_key"] for r in db.execute("SELECT run_key FROM current_runs WHERE experiment = ?", (name,))}
            if stored is not None and (stored["position"], stored["config"]) == (position, row["config"]) and keys == set(run_keys):
                return
        with open_for_writing(self.path, "experiment") as db:
            db.execute(TABLES["experiments"].insert_sql("INSERT OR REPLACE"), row)
            db.execute("DELETE FROM current_runs WHERE experiment = ?", (name,))
            db.executemany(TABLES["current_runs"].insert_sql(), [{"experiment": name, "run_key": key} for key in run_keys])

    def save_trial(self, key: str, experiment: str, label: str, params: dict[str, Any], gap: float, seconds: float) -> None:
        row = {
            "key": key,
            "experiment": experiment,
            "label": label,
            "params": json.dumps(params, sort_keys=True),
            "gap": gap,
            "seconds": seconds,
            "created_at": time.time(),
        }
        with open_for_writing(self.path, "trial") as db:
            db.execute(TABLES["tuning_trials"].insert_sql("INSERT OR REPLACE"), row)

    def replace_failures(self, command: str, experiments: list[str], failures: list[FailureRecord]) -> None:
        """The failures of the last ``command`` of ``experiments``: earlier ones removed, these written, in one transaction.

        Nothing is written when there is nothing to remove or add (a clean re-run changes no byte).
        """
        if not failures and not any(f.experiment in experiments for f in self.failures(command)):
            return
        rows = [
            {"key": f.key, "command": command, "experiment": f.experiment, "unit": f.unit, "error": f.error, "traceback": f.traceback,
             "attempts": f.attempts, "blocked_by": f.blocked_by, "created_at": time.time()}
            for f in failures
        ]
        with open_for_writing(self.path, "failures") as db:
            db.executemany("DELETE FROM failures WHERE command = ? AND experiment = ?", [(command, e) for e in experiments])
            db.executemany(TABLES["failures"].insert_sql("INSERT OR REPLACE"), rows)

    def save_model(self, key: str, kind: str, state: dict[str, torch.Tensor], meta: dict[str, Any]) -> None:
        buffer = io.BytesIO()
        torch.save(state, buffer)
        row = {"key": key, "kind": kind, "meta": json.dumps(meta, sort_keys=True), "state": buffer.getvalue(), "created_at": time.time()}
        with open_for_writing(self.path, "model") as db:
            db.execute(TABLES["models"].insert_sql("INSERT OR REPLACE"), row)
