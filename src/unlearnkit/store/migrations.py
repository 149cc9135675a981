"""Forward migrations between schema versions, and reading an older store without changing it.

A migration upgrades one version to the next by rebuilding the tables whose
columns changed: a ``SELECT`` over the older table yields the newer table's
columns (copied, or derived by SQL expressions). The same ``SELECT`` serves
twice:

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

from unlearnkit.store.schema import SCHEMA_VERSION, TABLES, Table

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
    """Upgrades a store of version ``source`` to ``source + 1`` by rebuilding the tables whose layout changed."""

    source: int
    source_tables: tuple[str, ...]  # the tables every store of version ``source`` has
    # The rebuilt tables in their version ``source + 1`` layout. (While that is the current version
    # these are schema.TABLES' entries; a later layout change must freeze a copy here.)
    targets: tuple[Table, ...]
    # table -> {new column: SQL expression over the older table's columns}. Every other column is
    # copied by name, and so is a new column that the older table already has.
    derived: dict[str, dict[str, str]]
    # SQL functions the expressions call: name -> (number of arguments, function)
    functions: dict[str, tuple[int, Callable[..., Any]]] = field(default_factory=dict)
    # Tables version ``source + 1`` adds (empty in a migrated store). Frozen copies, as for ``targets``.
    new_tables: tuple[Table, ...] = ()

    def register(self, connection: sqlite3.Connection) -> None:
        for name, (n_args, function) in self.functions.items():
            connection.create_function(name, n_args, function, deterministic=True)

    def select(self, connection: sqlite3.Connection, target: Table, source: str) -> str:
        """The SELECT turning the rows of ``source`` (a table or view) into rows of ``target``."""
        present = {column[0] for column in connection.execute(f"SELECT * FROM {source} LIMIT 0").description}
        derived = self.derived.get(target.name, {})
        parts = [
            column if column in present or column not in derived else f"{derived[column]} AS {column}" for column in target.column_names
        ]
        return f"SELECT {', '.join(parts)} FROM {source}"

    def apply(self, connection: sqlite3.Connection) -> None:
        """Rebuild each changed table (inside the caller's transaction, with foreign keys off)."""
        self.register(connection)
        for target in self.targets:
            new = f"{target.name}__migrating"
            connection.execute(target.create_sql(new))
            select = self.select(connection, target, f"main.{target.name}")
            connection.execute(f"INSERT INTO {new} ({', '.join(target.column_names)}) {select}")
            connection.execute(f"DROP TABLE {target.name}")
            connection.execute(f"ALTER TABLE {new} RENAME TO {target.name}")
        for table in self.new_tables:
            connection.execute(table.create_sql())
        connection.execute(f"PRAGMA user_version = {self.source + 1}")


# Stores written between the kind registry and schema 1 (user_version 0) already have
# kind, role, reference_key and peak_memory_mib: those are copied, not derived.
_V0_TO_V1 = Migration(
    source=0,
    source_tables=V0_TABLES,
    targets=(TABLES["runs"], TABLES["reference_runs"]),
    derived={
        "runs": {
            "kind": "unlearnkit_v0_kind(config)",
            "role": "unlearnkit_v0_role(method)",
            "peak_memory_mib": "unlearnkit_v0_peak_memory(diagnostics)",
            "reference_key": "unlearnkit_v0_reference_key(config, seed, version)",
        },
        "reference_runs": {
            "experiment": "unlearnkit_v0_experiment(config)",
            "kind": "unlearnkit_v0_kind(config)",
        },
    },
    functions={
        "unlearnkit_v0_kind": (1, v0_kind),
        "unlearnkit_v0_role": (1, v0_role),
        "unlearnkit_v0_peak_memory": (1, v0_peak_memory),
        "unlearnkit_v0_reference_key": (3, v0_reference_key),
        "unlearnkit_v0_experiment": (1, v0_experiment),
    },
)

# -- version 1 -> 2 -------------------------------------------------------------
# Version 2 adds the audit trail of deletion requests (`unlearnkit forget`); no existing table changes.
V1_TABLES = V0_TABLES  # version 1 has the same eight tables (some with more columns)
_V1_TO_V2 = Migration(source=1, source_tables=V1_TABLES, targets=(), derived={}, new_tables=(TABLES["audit_requests"],))

# -- version 2 -> 3 -------------------------------------------------------------
# Version 3 adds the units of work that failed in the last `run` or `tune` of an experiment; no existing table changes.
V2_TABLES = (*V1_TABLES, "audit_requests")
_V2_TO_V3 = Migration(source=2, source_tables=V2_TABLES, targets=(), derived={}, new_tables=(TABLES["failures"],))

# -- version 3 -> 4 -------------------------------------------------------------
# Version 4 adds named per-run and per-reference arrays (exposures, reconstructions); no existing table changes.
V3_TABLES = (*V2_TABLES, "failures")
_V3_TO_V4 = Migration(source=3, source_tables=V3_TABLES, targets=(), derived={}, new_tables=(TABLES["arrays"],))

# Ordered: MIGRATIONS[v] upgrades version v to v + 1.
MIGRATIONS: tuple[Migration, ...] = (_V0_TO_V1, _V1_TO_V2, _V2_TO_V3, _V3_TO_V4)


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
        for target in step.targets:
            view = f"{target.name}__v{step.source + 1}"
            select = step.select(connection, target, current.get(target.name, f"main.{target.name}"))
            connection.execute(f"CREATE TEMP VIEW {view} AS {select}")
            current[target.name] = f"temp.{view}"
        for added in step.new_tables:
            # Empty, in the connection's temporary schema: the file is not touched.
            connection.execute(added.create_sql(f"temp.{added.name}"))
    for table, source in current.items():
        connection.execute(f"CREATE TEMP VIEW {table} AS SELECT * FROM {source}")
