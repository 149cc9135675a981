"""Store stage: the embedded SQLite store of runs, outputs and cached models.

``StoreReader(path)`` opens a store strictly read-only (reports);
``SQLiteStore(path)`` also writes. Both refuse a file that is not a usable
store with a :class:`~unlearnkit.errors.StoreError`.
"""

from unlearnkit.store.records import ROLES, Arrays, FailureRecord, Outputs, ReferenceRecord, RunRecord
from unlearnkit.store.schema import SCHEMA_VERSION
from unlearnkit.store.sqlite import SQLiteStore, StoreReader

__all__ = [
    "ROLES",
    "SCHEMA_VERSION",
    "Arrays",
    "FailureRecord",
    "Outputs",
    "ReferenceRecord",
    "RunRecord",
    "SQLiteStore",
    "StoreReader",
]
