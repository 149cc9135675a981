"""The current layout of a store file (schema version 3) and the SQL built from it.

``PRAGMA user_version`` holds the schema version. Version 0 is the layout of
stores written before the version was recorded (see :mod:`.migrations`).

* ``runs``: one row per (experiment, method, seed) run, keyed by a hash of
  the resolved configuration and the package version; written in one
  transaction with its outputs, so an interrupted run leaves nothing behind.
  ``role`` and ``reference_key`` let a report find its special rows and its
  references without the code that wrote them.
* ``outputs``: per-example logits and labels of each run on each split, so
  population metrics and reports never need a model again.
* ``reference_runs`` / ``reference_outputs``: the reference model of each
  (experiment setting, metric list, seed): its metrics and per-example
  outputs. Under "untraining" it is the model of the ``retrain`` method;
  under "unlearning" (retrain without the whole forget distribution) it is
  not a method row.
* ``experiments``: the latest validated configuration of each experiment
  name, for what is computed at report time (population metrics).
* ``current_runs``: the run keys that configuration asks for. Runs of an
  earlier configuration of the same experiment stay in ``runs`` but reports
  leave them out.
* ``tuning_trials``: each hyper-parameter setting ``unlearnkit tune`` tried,
  so tuning resumes after an interruption and never re-runs a setting.
* ``models``: the content-addressed cache of trained models (state dicts
  saved with ``torch.save``, loaded with ``weights_only=True``) and the
  training time they cost. Checkpoints live only in these rows: there are
  no checkpoint files to leave half-written.
* ``audit_requests`` (schema 2): one row per deletion request answered by
  ``unlearnkit forget``: what was deleted (a hash of the sorted ids and
  their count, never the ids), how (method and every parameter), from which
  checkpoint to which (SHA-256 of both files), the verification metrics,
  when and how long, and the request it continues (``parent_id``, when the
  input checkpoint is an earlier request's output). A row is written in one
  transaction, complete or not at all.
* ``failures`` (schema 3): the units of work of an experiment that failed in
  the last ``run`` or ``tune`` of it (after their retries), with the error,
  the traceback and the number of attempts, or the failed unit they needed;
  a later ``run`` (``tune``) of the experiment replaces them.
* ``arrays`` (schema 4): named per-example arrays of a run or a reference
  model beyond its logits (``owner`` is a run key or a reference key), e.g.
  per-target canary exposures, per-target reconstruction SSIMs and the
  reconstructed images, or how many similar samples each target had.
  Written in the same transaction as their run or reference; reports read
  them without the code that computed them.
"""

from __future__ import annotations

from dataclasses import dataclass

# Changing a table's layout means: SCHEMA_VERSION + 1, a migration in migrations.py, and a frozen
# copy of the old table definitions in the previous migration's ``targets``.
SCHEMA_VERSION = 4


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[tuple[str, str], ...]  # (column name, SQL declaration)
    constraints: tuple[str, ...] = ()

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.columns)

    def create_sql(self, name: str | None = None) -> str:
        """``CREATE TABLE`` for this table (under ``name`` when rebuilding it during a migration)."""
        lines = [f"{column} {declaration}" for column, declaration in self.columns] + list(self.constraints)
        body = ",\n    ".join(lines)
        return f"CREATE TABLE {name or self.name} (\n    {body}\n)"

    def insert_sql(self, verb: str = "INSERT") -> str:
        """An insert with named columns and named placeholders (``:column``) for a row dictionary."""
        names = self.column_names
        return f"{verb} INTO {self.name} ({', '.join(names)}) VALUES ({', '.join(':' + n for n in names)})"

    def select_sql(self) -> str:
        return f"SELECT {', '.join(self.column_names)} FROM {self.name}"


_RUNS = Table(
    "runs",
    (
        ("run_key", "TEXT PRIMARY KEY"),
        ("experiment", "TEXT NOT NULL"),
        ("experiment_position", "INTEGER NOT NULL"),
        ("kind", "TEXT NOT NULL"),
        ("method", "TEXT NOT NULL"),
        ("role", "TEXT NOT NULL CHECK (role IN ('retrain', 'original', 'method'))"),
        ("label", "TEXT NOT NULL"),
        ("method_position", "INTEGER NOT NULL"),
        ("seed", "INTEGER NOT NULL"),
        ("goal", "TEXT NOT NULL"),
        ("seconds", "REAL NOT NULL"),
        ("peak_memory_mib", "REAL"),
        ("metrics", "TEXT NOT NULL"),
        ("metric_info", "TEXT NOT NULL"),
        ("diagnostics", "TEXT NOT NULL"),
        ("config", "TEXT NOT NULL"),
        ("version", "TEXT NOT NULL"),
        ("reference_key", "TEXT NOT NULL"),
        ("created_at", "REAL NOT NULL"),
    ),
)
_OUTPUTS = Table(
    "outputs",
    (
        ("run_key", "TEXT NOT NULL REFERENCES runs(run_key) ON DELETE CASCADE"),
        ("split", "TEXT NOT NULL"),
        ("logits", "BLOB NOT NULL"),
        ("labels", "BLOB NOT NULL"),
    ),
    ("PRIMARY KEY (run_key, split)",),
)
_REFERENCE_RUNS = Table(
    "reference_runs",
    (
        ("reference_key", "TEXT PRIMARY KEY"),
        ("experiment", "TEXT NOT NULL"),
        ("kind", "TEXT NOT NULL"),
        ("goal", "TEXT NOT NULL"),
        ("seed", "INTEGER NOT NULL"),
        ("seconds", "REAL NOT NULL"),
        ("metrics", "TEXT NOT NULL"),
        ("metric_info", "TEXT NOT NULL"),
        ("config", "TEXT NOT NULL"),
        ("version", "TEXT NOT NULL"),
        ("created_at", "REAL NOT NULL"),
    ),
)
_REFERENCE_OUTPUTS = Table(
    "reference_outputs",
    (
        ("reference_key", "TEXT NOT NULL REFERENCES reference_runs(reference_key) ON DELETE CASCADE"),
        ("split", "TEXT NOT NULL"),
        ("logits", "BLOB NOT NULL"),
        ("labels", "BLOB NOT NULL"),
    ),
    ("PRIMARY KEY (reference_key, split)",),
)
_EXPERIMENTS = Table(
    "experiments",
    (
        ("name", "TEXT PRIMARY KEY"),
        ("position", "INTEGER NOT NULL"),
        ("config", "TEXT NOT NULL"),
        ("updated_at", "REAL NOT NULL"),
    ),
)
# No foreign key to runs: a configuration is recorded before its runs exist.
_CURRENT_RUNS = Table(
    "current_runs",
    (("experiment", "TEXT NOT NULL"), ("run_key", "TEXT NOT NULL")),
    ("PRIMARY KEY (experiment, run_key)",),
)
_TUNING_TRIALS = Table(
    "tuning_trials",
    (
        ("key", "TEXT PRIMARY KEY"),
        ("experiment", "TEXT NOT NULL"),
        ("label", "TEXT NOT NULL"),
        ("params", "TEXT NOT NULL"),
        ("gap", "REAL NOT NULL"),
        ("seconds", "REAL NOT NULL"),
        ("created_at", "REAL NOT NULL"),
    ),
)
_MODELS = Table(
    "models",
    (
        ("key", "TEXT PRIMARY KEY"),
        ("kind", "TEXT NOT NULL"),  # what the model is: "original", "reference", "retrain", ...
        ("meta", "TEXT NOT NULL"),
        ("state", "BLOB NOT NULL"),
        ("created_at", "REAL NOT NULL"),
    ),
)

_AUDIT_REQUESTS = Table(
    "audit_requests",
    (
        ("request_id", "TEXT PRIMARY KEY"),
        ("parent_id", "TEXT REFERENCES audit_requests(request_id)"),
        ("kind", "TEXT NOT NULL"),
        ("method", "TEXT NOT NULL"),
        ("params", "TEXT NOT NULL"),  # JSON: every hyper-parameter, defaults filled in
        ("recipe", "TEXT"),  # JSON training recipe, or NULL when none was given
        ("seed", "INTEGER NOT NULL"),
        ("forget_unit", "TEXT NOT NULL"),
        ("ids_sha256", "TEXT NOT NULL"),
        ("ids_count", "INTEGER NOT NULL CHECK (ids_count > 0)"),
        ("model_factory", "TEXT NOT NULL"),
        ("data_path", "TEXT NOT NULL"),
        ("data_sha256", "TEXT NOT NULL"),
        ("validation_sha256", "TEXT"),
        ("checkpoint_path", "TEXT NOT NULL"),
        ("checkpoint_before_sha256", "TEXT NOT NULL"),
        ("output_path", "TEXT NOT NULL"),
        ("checkpoint_after_sha256", "TEXT NOT NULL"),
        ("metrics", "TEXT NOT NULL"),  # JSON: {"before": {...}, "after": {...}}
        ("method_seconds", "REAL NOT NULL"),
        ("wall_seconds", "REAL NOT NULL"),
        ("started_at", "TEXT NOT NULL"),  # ISO 8601, UTC
        ("finished_at", "TEXT NOT NULL"),
        ("version", "TEXT NOT NULL"),
    ),
)

_FAILURES = Table(
    "failures",
    (
        ("key", "TEXT NOT NULL"),  # what the unit would have produced: a run, model or trial key
        ("command", "TEXT NOT NULL"),  # "run" or "tune"
        ("experiment", "TEXT NOT NULL"),
        ("unit", "TEXT NOT NULL"),  # e.g. "tiny/finetune/seed0"
        ("error", "TEXT NOT NULL"),  # one line
        ("traceback", "TEXT NOT NULL"),
        ("attempts", "INTEGER NOT NULL"),
        ("blocked_by", "TEXT"),  # the failed unit whose result this one needed (it was not run)
        ("created_at", "REAL NOT NULL"),
    ),
    ("PRIMARY KEY (command, key)",),
)

# No foreign key: an owner is a run or a reference; writing either replaces its arrays.
_ARRAYS = Table(
    "arrays",
    (
        ("owner", "TEXT NOT NULL"),
        ("name", "TEXT NOT NULL"),
        ("array", "BLOB NOT NULL"),  # numpy .npy bytes (no pickle)
    ),
    ("PRIMARY KEY (owner, name)",),
)

TABLES: dict[str, Table] = {
    table.name: table
    for table in (
        _RUNS, _OUTPUTS, _REFERENCE_RUNS, _REFERENCE_OUTPUTS, _EXPERIMENTS, _CURRENT_RUNS, _TUNING_TRIALS, _MODELS, _AUDIT_REQUESTS,
        _FAILURES,
        _ARRAYS,
    )
}


def create_schema_sql() -> list[str]:
    """The statements creating an empty store of the current version (run them in one transaction)."""
    return [table.create_sql() for table in TABLES.values()] + [f"PRAGMA user_version = {SCHEMA_VERSION}"]
