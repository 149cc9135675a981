"""Store stage: the embedded SQLite store of runs, outputs and cached models."""

from unlearnkit.store.sqlite import RunRecord, SQLiteStore

__all__ = ["RunRecord", "SQLiteStore"]
