"""Store stage: the embedded SQLite store of runs, outputs and cached models."""

from unlearnkit.store.sqlite import ReferenceRecord, RunRecord, SQLiteStore

__all__ = ["ReferenceRecord", "RunRecord", "SQLiteStore"]
