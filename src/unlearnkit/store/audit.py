"""The audit trail of deletion requests: one ``audit_requests`` row per request (schema 2).

Written by ``unlearnkit forget`` after the new checkpoint is complete on
disk and before it takes its final name, in one transaction: a row is there
completely or not at all. Reading never creates or changes a store.

What is measured about a request's output later (a benchmark comparing it
with retraining) is kept as named arrays owned by the request id
(:meth:`~unlearnkit.store.sqlite.SQLiteStore.write_request_arrays`); the
names starting with :data:`DRIFT` and :data:`NOISE_FLOOR` are what reports
show as the drift of a chain of requests.

A request whose hyper-parameters were selected (``forget --select
oracle-free``) keeps the selection (:attr:`AuditRecord.selection`) inside
the ``params`` column's JSON under the key :data:`SELECTION_KEY`, which no
constructor parameter can be named, so the schema is unchanged; reading
takes it out again, and ``AuditRecord.params`` holds only the method's
hyper-parameters.
"""

from __future__ import annotations

import json
import os
import sqlite3
from dataclasses import asdict, dataclass
from typing import Any

from unlearnkit.errors import StoreError
from unlearnkit.store.connection import check_store, check_writable_location, open_for_writing, open_read_only
from unlearnkit.store.schema import TABLES

_TABLE = TABLES["audit_requests"]
_JSON_COLUMNS = ("params", "recipe", "metrics")

# Array names of a request: ``drift/NAME`` is a distance between the request's output model and a model retrained
# without everything deleted so far along its chain; ``noise_floor/NAME`` is the same measure between two such
# retrains (different seeds), the drift retraining itself shows.
DRIFT = "drift/"
NOISE_FLOOR = "noise_floor/"
REQUEST_ORDER = " ORDER BY started_at, request_id"  # oldest first
SELECTION_KEY = "@selection"  # not an identifier: never a hyper-parameter's name


@dataclass(frozen=True, kw_only=True)
class AuditRecord:
    """What one deletion request did, from which checkpoint to which, and the evidence (see ``store/schema.py``)."""

    request_id: str
    parent_id: str | None
    kind: str
    method: str
    params: dict[str, Any]
    recipe: dict[str, Any] | None
    seed: int
    forget_unit: str
    ids_sha256: str
    ids_count: int
    model_factory: str
    data_path: str
    data_sha256: str
    validation_sha256: str | None
    checkpoint_path: str
    checkpoint_before_sha256: str
    output_path: str
    checkpoint_after_sha256: str
    metrics: dict[str, dict[str, float]]
    method_seconds: float
    wall_seconds: float
    started_at: str
    finished_at: str
    version: str
    # The hyper-parameter selection (chosen setting, every trial's score); None when the parameters were given.
    selection: dict[str, Any] | None = None

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def _row(record: AuditRecord) -> dict[str, Any]:
    row = asdict(record)
    selection = row.pop("selection")
    if selection is not None:
        row["params"] = {**row["params"], SELECTION_KEY: selection}
    for column in _JSON_COLUMNS:
        row[column] = None if row[column] is None else json.dumps(row[column], sort_keys=True)
    return row


def record_from_row(row: sqlite3.Row) -> AuditRecord:
    values = {name: row[name] for name in _TABLE.column_names}
    for column in _JSON_COLUMNS:
        values[column] = None if values[column] is None else json.loads(values[column])
    selection = values["params"].pop(SELECTION_KEY, None)
    return AuditRecord(**values, selection=selection)


def write_audit(path: str, record: AuditRecord) -> None:
    """Insert ``record`` in one transaction (creating or migrating the store first)."""
    with open_for_writing(path) as db:
        db.execute(_TABLE.insert_sql(), _row(record))


def check_audit_store(path: str) -> None:
    """Refuse a store ``unlearnkit forget`` could not write its record to, before any work is done."""
    if os.path.lexists(path):
        check_store(path)
    check_writable_location(path)


def audit_records(path: str) -> list[AuditRecord]:
    """Every request, oldest first."""
    if not os.path.exists(path):
        raise StoreError(f"store {path}: the file does not exist (no deletion request has been recorded there)")
    with open_read_only(path) as db:
        rows = db.execute(_TABLE.select_sql() + REQUEST_ORDER).fetchall()
    return [record_from_row(row) for row in rows]


def audit_record(path: str, request_id: str) -> AuditRecord:
    """The request ``request_id`` (a unique prefix of at least 6 characters is enough)."""
    if len(request_id) < 6:
        raise StoreError(f"request id {request_id!r}: give at least 6 characters")
    matches = [r for r in audit_records(path) if r.request_id.startswith(request_id)]
    if not matches:
        raise StoreError(f"store {path}: no deletion request with id {request_id!r}")
    if len(matches) > 1:
        raise StoreError(f"store {path}: {len(matches)} requests start with {request_id!r}; give more characters")
    return matches[0]


def request_with_output(path: str, checkpoint_sha256: str) -> AuditRecord | None:
    """The latest recorded request whose output checkpoint has this SHA-256 (the parent of a request that starts from it)."""
    if not os.path.exists(path):
        return None
    with open_read_only(path) as db:
        row = db.execute(
            _TABLE.select_sql() + " WHERE checkpoint_after_sha256 = ? ORDER BY finished_at DESC, request_id LIMIT 1",
            (checkpoint_sha256,),
        ).fetchone()
    return None if row is None else record_from_row(row)
