"""Forward migrations between schema versions, and reading an older store without changing it.

A migration upgrades one version to the next by rebuilding the tables whose
columns changed: every rebuilt table has a ``SELECT`` over the older table
that yields the newer table's columns. The same ``SELECT`` serves twice:

* opened for writing, a store is migrated on disk: every step, in order, in
  one transaction (a failure leaves the file as it was);
* opened read-only, the ``SELECT`` becomes a ``TEMP VIEW`` with the table's
  name (temporary objects live in the connection, never in the file, and
  shadow the file's table of the same name), so a report reads an older
  store with exactly the values a migration would write.

Whatever a migration derives is computed by frozen copies of the rules of
the version that wrote the rows: this module imports nothing from
``unlearnkit.experiment`` or ``unlearnkit.methods``, so renaming a method or
changing a key formula can never change how an old store reads.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from unlearnkit.store.schema import SCHEMA_VERSION, TABLES

# -- version 0 -> 1 -----------------------------------------------------------
# Version 0: the layout before `PRAGMA user_version` was set (the same eight
# tables; runs and reference_runs without the columns below).
V0_TABLES = ("runs", "outputs", "reference_runs", "reference_outputs", "experiments", "current_runs", "tuning_trials", "models")

# Roles of the method classes that existed when version 0 was current; every other class was an unlearning method.
V0_ROLES = {"Retrain": "retrain", "RetrainRec": "retrain", "Original": "original", "OriginalRec": "original"}


def v0_role(method_class: str) -> str:
    return V0_ROLES.get(method_class, "method")


def v0_kind(config_json: str) -> str:
    """The experiment kind from a stored run or reference configuration (version 0 wrote it for recommenders only)."""
    kind = json.loads(config_json)["setting"].get("kind", "classification")
    return str(kind)


def v0_experiment(config_json: str) -> str:
    return str(json.loads(config_json)["experiment"])


def v0_reference_key(config_json: str, seed: int, version: str) -> str:
    """The reference key version 0 computed for a run (``experiment.resolve.reference_key`` at that time).

    Version 0 stored no reference for recommendation runs: theirs is computed
    the same way and simply matches no stored reference.
    """
    config = json.loads(config_json)
    payload = ["reference", config["setting"], config["metrics"], seed, version]
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:20]


def v0_peak_memory(diagnostics_json: str) -> float | None:
    """Version 0 kept the peak memory it measured (recommendation runs) in a run's diagnostics."""
    value = json.loads(diagnostics_json).get("peak_memory_mib")
    return None if value is None else float(value)


# -- migrations -----------------------------------------------------------------


@dataclass(frozen=True)
class Migration:
    """Upgrades a store of version ``source`` to ``source + 1``."""

    source: int
    source_tables: tuple[str, ...]  # the tables every store of version ``source`` has
    # table -> SELECT yielding the new table's columns; "{source}" names the older table.
    rebuilt: dict[str, str]
    # SQL functions the SELECTs call: name -> (number of arguments, function)
    functions: dict[str, tuple[int, Callable[..., Any]]] = field(default_factory=dict)

    def register(self, connection: sqlite3.Connection) -> None:
        for name, (n_args, function) in self.functions.items():
            connection.create_function(name, n_args, function, deterministic=True)

    def apply(self, connection: sqlite3.Connection) -> None:
        """Rebuild each changed table (inside the caller's transaction, with foreign keys off)."""
        self.register(connection)
        for table, select in self.rebuilt.items():
            new = f"{table}__migrating"
            columns = ", ".join(TABLES[table].column_names)
            connection.execute(TABLES[table].create_sql(new))
            connection.execute(f"INSERT INTO {new} ({columns}) {select.format(source='main.' + table)}")
            connection.execute(f"DROP TABLE {table}")
            connection.execute(f"ALTER TABLE {new} RENAME TO {table}")
        connection.execute(f"PRAGMA user_version = {self.source + 1}")


_V0_TO_V1 = Migration(
    source=0,
    source_tables=V0_TABLES,
    rebuilt={
        "runs": (
            "SELECT run_key, experiment, experiment_position, unlearnkit_v0_kind(config) AS kind, method,"
            " unlearnkit_v0_role(method) AS role, label, method_position, seed, goal, seconds,"
            " unlearnkit_v0_peak_memory(diagnostics) AS peak_memory_mib, metrics, metric_info, diagnostics, config,"
            " version, unlearnkit_v0_reference_key(config, seed, version) AS reference_key, created_at FROM {source}"
        ),
        "reference_runs": (
            "SELECT reference_key, unlearnkit_v0_experiment(config) AS experiment, unlearnkit_v0_kind(config) AS kind,"
            " goal, seed, seconds, metrics, metric_info, config, version, created_at FROM {source}"
        ),
    },
    functions={
        "unlearnkit_v0_kind": (1, v0_kind),
        "unlearnkit_v0_role": (1, v0_role),
        "unlearnkit_v0_peak_memory": (1, v0_peak_memory),
        "unlearnkit_v0_reference_key": (3, v0_reference_key),
        "unlearnkit_v0_experiment": (1, v0_experiment),
    },
)

# Ordered: MIGRATIONS[v] upgrades version v to v + 1.
MIGRATIONS: tuple[Migration, ...] = (_V0_TO_V1,)


def tables_of_version(version: int) -> tuple[str, ...]:
    """The tables a store of ``version`` must have."""
    return tuple(TABLES) if version == SCHEMA_VERSION else MIGRATIONS[version].source_tables


def migrate(connection: sqlite3.Connection, version: int) -> None:
    """Upgrade from ``version`` to the current one (inside the caller's transaction, with foreign keys off)."""
    for step in MIGRATIONS[version:SCHEMA_VERSION]:
        step.apply(connection)


def install_read_views(connection: sqlite3.Connection, version: int) -> None:
    """Temporary views showing a store of an older ``version`` with the current columns; the file is untouched.

    Each step reads the previous step's view (``runs__v1`` ...); finally a
    view with the table's own name, which unqualified queries find before
    the file's table, shows the last one.
    """
    current: dict[str, str] = {}  # table -> where its rows are read from so far
    for step in MIGRATIONS[version:SCHEMA_VERSION]:
        step.register(connection)
        for table, select in step.rebuilt.items():
            view = f"{table}__v{step.source + 1}"
            connection.execute(f"CREATE TEMP VIEW {view} AS {select.format(source=current.get(table, 'main.' + table))}")
            current[table] = f"temp.{view}"
    for table, source in current.items():
        connection.execute(f"CREATE TEMP VIEW {table} AS SELECT * FROM {source}")
