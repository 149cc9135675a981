"""The embedded default store: one SQLite file holding runs, per-example outputs and model checkpoints.

* ``runs``: one row per (experiment, method, seed) run, keyed by a hash of
  the resolved configuration and the package version; written once, in one
  transaction with its outputs, so an interrupted run leaves nothing behind.
* ``outputs``: per-example logits and labels of each run on each split, so
  population metrics and reports never need a model again.
* ``models``: the content-addressed cache of trained originals and retrained
  references (state dicts saved with ``torch.save``, loaded with
  ``weights_only=True``), with the training wall time they cost.
* ``reference_runs`` / ``reference_outputs``: the reference model of each
  (experiment setting, metric list, seed): its metrics and per-example
  outputs.  Under "untraining" it is the model of the ``retrain`` method;
  under "unlearning" (retrain without the whole forget distribution) it is
  not a method row, and population metrics and reports need its outputs
  without retraining.
* ``tuning_trials``: each hyper-parameter setting ``unlearnkit tune`` tried,
  keyed by a hash of the tuning models, the method and its parameters, with
  its validation gap and wall time, so tuning resumes after an interruption
  and a re-selection (another time budget) runs nothing again.
* ``experiments``: the latest validated configuration of each experiment
  name, for what is computed at report time (population metrics).
* ``current_runs``: the run keys that configuration asks for. Runs of an
  earlier configuration of the same experiment (another recipe under the
  same label) stay in ``runs`` but reports leave them out.
"""

from __future__ import annotations

import io
import json
import os
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_key TEXT PRIMARY KEY,
    experiment TEXT NOT NULL,
    experiment_position INTEGER NOT NULL,
    method TEXT NOT NULL,
    label TEXT NOT NULL,
    method_position INTEGER NOT NULL,
    seed INTEGER NOT NULL,
    goal TEXT NOT NULL,
    seconds REAL NOT NULL,
    metrics TEXT NOT NULL,
    metric_info TEXT NOT NULL,
    diagnostics TEXT NOT NULL,
    config TEXT NOT NULL,
    version TEXT NOT NULL,
    created_at REAL NOT NULL,
    kind TEXT NOT NULL,
    role TEXT NOT NULL,
    reference_key TEXT NOT NULL,
    peak_memory_mib REAL
);
CREATE TABLE IF NOT EXISTS outputs (
    run_key TEXT NOT NULL REFERENCES runs(run_key) ON DELETE CASCADE,
    split TEXT NOT NULL,
    logits BLOB NOT NULL,
    labels BLOB NOT NULL,
    PRIMARY KEY (run_key, split)
);
CREATE TABLE IF NOT EXISTS reference_runs (
    reference_key TEXT PRIMARY KEY,
    goal TEXT NOT NULL,
    seed INTEGER NOT NULL,
    seconds REAL NOT NULL,
    metrics TEXT NOT NULL,
    metric_info TEXT NOT NULL,
    config TEXT NOT NULL,
    version TEXT NOT NULL,
    created_at REAL NOT NULL,
    experiment TEXT NOT NULL,
    kind TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS reference_outputs (
    reference_key TEXT NOT NULL REFERENCES reference_runs(reference_key) ON DELETE CASCADE,
    split TEXT NOT NULL,
    logits BLOB NOT NULL,
    labels BLOB NOT NULL,
    PRIMARY KEY (reference_key, split)
);
CREATE TABLE IF NOT EXISTS experiments (
    name TEXT PRIMARY KEY,
    position INTEGER NOT NULL,
    config TEXT NOT NULL,
    updated_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS current_runs (
    experiment TEXT NOT NULL,
    run_key TEXT NOT NULL,
    PRIMARY KEY (experiment, run_key)
);
CREATE TABLE IF NOT EXISTS tuning_trials (
    key TEXT PRIMARY KEY,
    experiment TEXT NOT NULL,
    label TEXT NOT NULL,
    params TEXT NOT NULL,
    gap REAL NOT NULL,
    seconds REAL NOT NULL,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS models (
    key TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    meta TEXT NOT NULL,
    state BLOB NOT NULL,
    created_at REAL NOT NULL
);
"""


@dataclass(frozen=True)
class RunRecord:
    run_key: str
    experiment: str
    experiment_position: int
    kind: str
    method: str
    label: str
    role: str
    method_position: int
    seed: int
    goal: str
    seconds: float
    peak_memory_mib: float | None
    metrics: dict[str, float]
    metric_info: dict[str, dict[str, Any]]
    diagnostics: dict[str, Any]
    config: dict[str, Any]
    reference_key: str
    version: str


@dataclass(frozen=True)
class ReferenceRecord:
    """The reference model of one (experiment setting, metric list, seed): its metrics, time and config."""

    reference_key: str
    experiment: str
    kind: str
    goal: str
    seed: int
    seconds: float
    metrics: dict[str, float]
    metric_info: dict[str, dict[str, Any]]
    config: dict[str, Any]
    version: str


def _array_blob(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def _blob_array(blob: bytes) -> np.ndarray:
    return np.load(io.BytesIO(blob), allow_pickle=False)


class SQLiteStore:
    """Results and model cache in one SQLite file (created on first write)."""

    def __init__(self, path: str) -> None:
        self.path = path

    @contextmanager
    def _connect(self, *, create: bool) -> Iterator[sqlite3.Connection]:
        if not create and not os.path.exists(self.path):
            raise FileNotFoundError(f"no store at {self.path}")
        if create:
            os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
        connection = sqlite3.connect(self.path, timeout=60)
        try:
            connection.execute("PRAGMA foreign_keys = ON")
            if create:
                connection.executescript(_SCHEMA)
            with connection:
                yield connection
        finally:
            connection.close()

    @contextmanager
    def _existing(self) -> Iterator[sqlite3.Connection]:
        """A connection to a store that must exist; tables added since it was written are created empty."""
        if not self.exists():
            raise FileNotFoundError(f"no store at {self.path}")
        with self._connect(create=True) as db:
            yield db

    def exists(self) -> bool:
        return os.path.exists(self.path)

    # -- runs -------------------------------------------------------------
    def has_run(self, run_key: str) -> bool:
        if not self.exists():
            return False
        with self._connect(create=True) as db:
            return db.execute("SELECT 1 FROM runs WHERE run_key = ?", (run_key,)).fetchone() is not None

    def write_run(self, record: RunRecord, outputs: dict[str, tuple[np.ndarray, np.ndarray]]) -> None:
        """Write a run and its per-example outputs atomically (replacing an earlier copy)."""
        with self._connect(create=True) as db:
            db.execute("DELETE FROM runs WHERE run_key = ?", (record.run_key,))
            db.execute(
                "INSERT INTO runs VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    record.run_key,
                    record.experiment,
                    record.experiment_position,
                    record.method,
                    record.label,
                    record.method_position,
                    record.seed,
                    record.goal,
                    record.seconds,
                    json.dumps(record.metrics),
                    json.dumps(record.metric_info),
                    json.dumps(record.diagnostics, default=str),
                    json.dumps(record.config, sort_keys=True),
                    record.version,
                    time.time(),
                    record.kind,
                    record.role,
                    record.reference_key,
                    record.peak_memory_mib,
                ),
            )
            db.executemany(
                "INSERT INTO outputs VALUES (?,?,?,?)",
                [(record.run_key, split, _array_blob(lg), _array_blob(lb)) for split, (lg, lb) in outputs.items()],
            )

    def runs(self) -> list[RunRecord]:
        with self._connect(create=False) as db:
            rows = db.execute(
                "SELECT run_key, experiment, experiment_position, kind, method, label, role, method_position, seed, goal,"
                " seconds, peak_memory_mib, metrics, metric_info, diagnostics, config, reference_key, version FROM runs"
                " ORDER BY experiment_position, experiment, method_position, label, seed"
            ).fetchall()
        return [
            RunRecord(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10], r[11], json.loads(r[12]),
                      json.loads(r[13]), json.loads(r[14]), json.loads(r[15]), r[16], r[17])
            for r in rows
        ]

    def outputs(self, run_key: str) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        with self._connect(create=False) as db:
            rows = db.execute("SELECT split, logits, labels FROM outputs WHERE run_key = ?", (run_key,)).fetchall()
        if not rows:
            raise KeyError(f"no outputs stored for run {run_key}")
        return {split: (_blob_array(lg), _blob_array(lb)) for split, lg, lb in rows}

    # -- references ---------------------------------------------------------
    def has_reference(self, reference_key: str) -> bool:
        if not self.exists():
            return False
        with self._connect(create=True) as db:
            return db.execute("SELECT 1 FROM reference_runs WHERE reference_key = ?", (reference_key,)).fetchone() is not None

    def write_reference(self, record: ReferenceRecord, outputs: dict[str, tuple[np.ndarray, np.ndarray]]) -> None:
        """Write a reference and its per-example outputs atomically (replacing an earlier copy)."""
        with self._connect(create=True) as db:
            db.execute("DELETE FROM reference_runs WHERE reference_key = ?", (record.reference_key,))
            db.execute(
                "INSERT INTO reference_runs VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                (
                    record.reference_key,
                    record.goal,
                    record.seed,
                    record.seconds,
                    json.dumps(record.metrics),
                    json.dumps(record.metric_info),
                    json.dumps(record.config, sort_keys=True),
                    record.version,
                    time.time(),
                    record.experiment,
                    record.kind,
                ),
            )
            db.executemany(
                "INSERT INTO reference_outputs VALUES (?,?,?,?)",
                [(record.reference_key, split, _array_blob(lg), _array_blob(lb)) for split, (lg, lb) in outputs.items()],
            )

    def references(self) -> dict[str, ReferenceRecord]:
        """Every stored reference, by key (empty for a store written before references were kept)."""
        with self._existing() as db:
            rows = db.execute(
                "SELECT reference_key, experiment, kind, goal, seed, seconds, metrics, metric_info, config, version FROM reference_runs"
            ).fetchall()
        return {
            r[0]: ReferenceRecord(r[0], r[1], r[2], r[3], r[4], r[5], json.loads(r[6]), json.loads(r[7]), json.loads(r[8]), r[9])
            for r in rows
        }

    def reference_outputs(self, reference_key: str) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        with self._existing() as db:
            rows = db.execute(
                "SELECT split, logits, labels FROM reference_outputs WHERE reference_key = ?", (reference_key,)
            ).fetchall()
        if not rows:
            raise KeyError(f"no outputs stored for reference {reference_key}")
        return {split: (_blob_array(lg), _blob_array(lb)) for split, lg, lb in rows}

    # -- experiment configurations ------------------------------------------
    def save_experiment(self, name: str, position: int, config: dict[str, Any], run_keys: list[str]) -> None:
        """Record the latest configuration of ``name`` and the run keys it asks for, in one transaction."""
        with self._connect(create=True) as db:
            db.execute(
                "INSERT OR REPLACE INTO experiments VALUES (?,?,?,?)",
                (name, position, json.dumps(config, sort_keys=True), time.time()),
            )
            db.execute("DELETE FROM current_runs WHERE experiment = ?", (name,))
            db.executemany("INSERT INTO current_runs VALUES (?,?)", [(name, key) for key in run_keys])

    def current_runs(self) -> list[RunRecord]:
        """The runs of each experiment's latest configuration.

        An experiment with no recorded configuration (a store written before
        configurations were kept) contributes all its runs.
        """
        with self._existing() as db:
            current = db.execute("SELECT experiment, run_key FROM current_runs").fetchall()
        keys: dict[str, set[str]] = {}
        for experiment, key in current:
            keys.setdefault(experiment, set()).add(key)
        return [r for r in self.runs() if r.experiment not in keys or r.run_key in keys[r.experiment]]

    def experiment_configs(self) -> dict[str, dict[str, Any]]:
        """The latest configuration stored for each experiment name (empty for older stores)."""
        with self._existing() as db:
            rows = db.execute("SELECT name, config FROM experiments ORDER BY position, name").fetchall()
        return {name: json.loads(config) for name, config in rows}

    # -- tuning trials ------------------------------------------------------
    def load_trial(self, key: str) -> tuple[float, float] | None:
        """(gap, seconds) of a stored tuning trial; gap is inf for a setting that diverged."""
        if not self.exists():
            return None
        with self._connect(create=True) as db:
            row = db.execute("SELECT gap, seconds FROM tuning_trials WHERE key = ?", (key,)).fetchone()
        return None if row is None else (float(row[0]), float(row[1]))

    def save_trial(self, key: str, experiment: str, label: str, params: dict[str, Any], gap: float, seconds: float) -> None:
        with self._connect(create=True) as db:
            db.execute(
                "INSERT OR REPLACE INTO tuning_trials VALUES (?,?,?,?,?,?,?)",
                (key, experiment, label, json.dumps(params, sort_keys=True), gap, seconds, time.time()),
            )

    # -- model cache --------------------------------------------------------
    def load_model(self, key: str) -> tuple[dict[str, torch.Tensor], dict[str, Any]] | None:
        if not self.exists():
            return None
        with self._connect(create=True) as db:
            row = db.execute("SELECT state, meta FROM models WHERE key = ?", (key,)).fetchone()
        if row is None:
            return None
        state = torch.load(io.BytesIO(row[0]), weights_only=True)
        return state, json.loads(row[1])

    def save_model(self, key: str, kind: str, state: dict[str, torch.Tensor], meta: dict[str, Any]) -> None:
        buffer = io.BytesIO()
        torch.save(state, buffer)
        with self._connect(create=True) as db:
            db.execute(
                "INSERT OR REPLACE INTO models VALUES (?,?,?,?,?)",
                (key, kind, json.dumps(meta, sort_keys=True), buffer.getvalue(), time.time()),
            )

    def model_count(self) -> int:
        if not self.exists():
            return 0
        with self._connect(create=True) as db:
            return int(db.execute("SELECT COUNT(*) FROM models").fetchone()[0])
