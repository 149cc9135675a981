"""Opening a store file: strictly read-only, or for writing (created or migrated first), with clear refusals.

Every problem with the file itself (missing, a folder, empty, not SQLite,
not one of ours, damaged, from a newer schema, not writable) is a
:class:`~unlearnkit.errors.StoreError` naming the path and the problem.
"""

from __future__ import annotations

import os
import sqlite3
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager

from unlearnkit import faults
from unlearnkit.errors import StoreError
from unlearnkit.store.migrations import V0_TABLES, install_read_views, migrate, tables_of_version
from unlearnkit.store.schema import SCHEMA_VERSION, create_schema_sql

SQLITE_HEADER = b"SQLite format 3\x00"
# `PRAGMA application_id` of every store from schema 1 on ("unlk"): tells our files from other SQLite files.
APPLICATION_ID = 0x756E6C6B
# Waiting for another process's write (parallel workers share one store) before giving up.
BUSY_TIMEOUT_SECONDS = 60.0


def _error(path: str, problem: str) -> StoreError:
    return StoreError(f"store {path}: {problem}")


def check_store_file(path: str) -> None:
    """Refuse a path that is not a non-empty SQLite file (without opening it as a database)."""
    if not os.path.lexists(path):
        raise _error(path, "the file does not exist")
    if os.path.isdir(path):
        raise _error(path, "is a folder, not a store file")
    if not os.path.isfile(path):
        raise _error(path, "is not a regular file")
    try:
        with open(path, "rb") as handle:
            header = handle.read(len(SQLITE_HEADER))
    except OSError as error:
        raise _error(path, f"cannot be read ({error.strerror})") from None
    if not header:
        raise _error(path, "is an empty file, not an unlearnkit store")
    if header != SQLITE_HEADER:
        raise _error(path, "is not an SQLite database, so not an unlearnkit store")


def check_writable_location(path: str) -> None:
    """Refuse a store that could not be written: an unwritable file or folder, or a folder that cannot be made."""
    if os.path.lexists(path):
        check_store_file(path)
        if not os.access(path, os.R_OK | os.W_OK):
            raise _error(path, "the file is not writable")
        folder = os.path.dirname(os.path.abspath(path))
        if not os.access(folder, os.W_OK | os.X_OK):
            raise _error(path, f"its folder {folder} is not writable (SQLite writes its journal next to the store)")
        return
    existing = os.path.dirname(os.path.abspath(path))
    while not os.path.lexists(existing):
        existing = os.path.dirname(existing)
    if not os.path.isdir(existing):
        raise _error(path, f"cannot be created: {existing} is not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise _error(path, f"cannot be created: the folder {existing} is not writable")


@contextmanager
def _translated(path: str) -> Iterator[None]:
    """SQLite's errors about the file (unreadable, not a database, malformed, locked, read-only) as StoreError.

    Constraint and programming errors (``IntegrityError`` ...) are bugs, not
    problems with the file, and pass through.
    """
    try:
        yield
    except sqlite3.DatabaseError as error:
        if type(error) in (sqlite3.DatabaseError, sqlite3.OperationalError):
            raise _error(path, f"cannot be used: {error}") from error
        raise


def _layout(connection: sqlite3.Connection) -> tuple[int, int, set[str]]:
    application_id = int(connection.execute("PRAGMA main.application_id").fetchone()[0])
    version = int(connection.execute("PRAGMA main.user_version").fetchone()[0])
    tables = {str(row[0]) for row in connection.execute("SELECT name FROM main.sqlite_master WHERE type = 'table'")}
    return application_id, version, tables


def schema_version(connection: sqlite3.Connection, path: str, *, new_file: bool = False) -> int | None:
    """The schema version of an unlearnkit store; None for a database without tables that ``new_file`` allows."""
    application_id, version, tables = _layout(connection)
    if application_id == APPLICATION_ID:
        if version > SCHEMA_VERSION:
            raise _error(path, f"written by a newer unlearnkit (schema {version}; this version reads up to {SCHEMA_VERSION})")
    elif application_id == 0 and version == 0 and tables & set(V0_TABLES):
        pass  # written before schema versions were recorded
    elif application_id == 0 and version == 0 and not tables and new_file:
        return None
    else:
        found = f"tables {sorted(tables)}" if tables else "no tables"
        raise _error(path, f"is an SQLite database but not an unlearnkit store (it has {found})")
    missing = [table for table in tables_of_version(version) if table not in tables]
    if missing:
        raise _error(path, f"is missing the table(s) {', '.join(missing)} of schema {version}: the store is damaged")
    return version


def _read_only_uri(path: str, *, immutable: bool = False) -> str:
    return f"file:{urllib.request.pathname2url(os.path.abspath(path))}?mode=ro" + ("&immutable=1" if immutable else "")


def _in_wal_mode(path: str) -> bool:
    """Bytes 18-19 of the header are 2 in WAL mode (1 with a rollback journal)."""
    with open(path, "rb") as handle:
        header = handle.read(20)
    return header[18:20] == b"\x02\x02"


def check_store(path: str) -> None:
    """Refuse anything but an unlearnkit store of a schema this version reads, creating no file.

    A read-only connection to a WAL-mode database creates SQLite's ``-wal``
    and ``-shm`` companion files when they are missing. Without a ``-wal``
    file no connection is open and the database file holds everything, so it
    is inspected as immutable: a file refused here gets no companions. (Should
    a writer start meanwhile, which makes a ``-wal`` file, and SQLite fail to
    read the immutable file, it is inspected again through the locking
    protocol; without a ``-wal`` file the failure is the file's own.)
    """
    check_store_file(path)
    if _in_wal_mode(path) and not os.path.exists(path + "-wal"):
        try:
            _inspect(path, _read_only_uri(path, immutable=True))
            return
        except StoreError as error:
            if not isinstance(error.__cause__, sqlite3.DatabaseError) or not os.path.exists(path + "-wal"):
                raise
    _inspect(path, _read_only_uri(path))


def _inspect(path: str, uri: str) -> None:
    with _translated(path):
        connection = sqlite3.connect(uri, uri=True, timeout=BUSY_TIMEOUT_SECONDS, isolation_level=None)
        try:
            schema_version(connection, path)
        finally:
            connection.close()


@contextmanager
def open_read_only(path: str, *, writer: bool = False) -> Iterator[sqlite3.Connection]:
    """A connection that can neither create nor change the file, seeing a store of any known schema as the current one.

    An older store is shown through temporary views (see :mod:`.migrations`).
    All reads of one ``with`` block see one snapshot. (Reading a store in
    WAL mode creates SQLite's ``-wal``/``-shm`` companion files if they are
    missing, as every WAL reader does; the store file itself is never
    written. Check an unknown file with :func:`check_store` first.)

    In a folder this user cannot write (where the companions cannot be
    created) and without a ``-wal`` file, no writer is at work when reading
    starts, so the file is read as immutable.

    A ``writer`` (a process that may write this store later) reads through a
    read-write connection in query-only mode instead: as the last connection
    closes, SQLite removes the companions it made, so a command that fails
    after reading leaves the folder as it found it.
    """
    check_store_file(path)
    folder = os.path.dirname(os.path.abspath(path))
    immutable = _in_wal_mode(path) and not os.path.exists(path + "-wal") and not os.access(folder, os.W_OK)
    with _translated(path):
        if writer:
            connection = sqlite3.connect(path, timeout=BUSY_TIMEOUT_SECONDS, isolation_level=None)
        else:
            uri = _read_only_uri(path, immutable=immutable)
            connection = sqlite3.connect(uri, uri=True, timeout=BUSY_TIMEOUT_SECONDS, isolation_level=None)
    try:
        with _translated(path):
            connection.row_factory = sqlite3.Row
            version = schema_version(connection, path)
            if version is not None and version < SCHEMA_VERSION:
                install_read_views(connection, version)
            if writer:  # after the temporary views: they live in the connection, not in the file
                connection.execute("PRAGMA query_only = ON")
            connection.execute("BEGIN")
            yield connection
    finally:
        connection.close()


def _prepare(connection: sqlite3.Connection, path: str, new_file: bool) -> None:
    """Create the schema in a new file or migrate an older store, in one transaction; then switch to WAL."""
    # Rebuilding a table drops it; with foreign keys on that would delete its
    # dependants' rows. The pragma has no effect inside a transaction.
    connection.execute("PRAGMA foreign_keys = OFF")
    connection.execute("BEGIN IMMEDIATE")
    try:
        version = schema_version(connection, path, new_file=new_file)
        if version is None:
            for statement in create_schema_sql():
                connection.execute(statement)
            connection.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        elif version < SCHEMA_VERSION:
            migrate(connection, version)
            connection.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            violations = connection.execute("PRAGMA foreign_key_check").fetchall()
            if violations:
                raise _error(path, f"migration from schema {version} left {len(violations)} row(s) without their parent row")
        connection.execute("COMMIT")
    except BaseException:
        if connection.in_transaction:
            connection.execute("ROLLBACK")
        raise
    # Persistent in the file: readers proceed while one process writes.
    connection.execute("PRAGMA journal_mode = WAL")
    connection.execute("PRAGMA foreign_keys = ON")


@contextmanager
def open_for_writing(path: str, what: str = "") -> Iterator[sqlite3.Connection]:
    """A connection inside one write transaction: committed when the block ends, rolled back if it raises.

    A missing file (and its folder) is created with the current schema; an
    older store is migrated first (one transaction of its own). ``what`` names
    the write for the fault-injection tests (:mod:`unlearnkit.faults`), which
    kill the process inside the transaction or just after it.
    """
    check_writable_location(path)
    new_file = not os.path.lexists(path)
    try:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    except OSError as error:
        raise _error(path, f"its folder cannot be created ({error.strerror})") from None
    with _translated(path):
        connection = sqlite3.connect(path, timeout=BUSY_TIMEOUT_SECONDS, isolation_level=None)
    try:
        with _translated(path):
            connection.row_factory = sqlite3.Row
            _prepare(connection, path, new_file)
            connection.execute("BEGIN IMMEDIATE")
            try:
                yield connection
                faults.reached("write", what)
            except BaseException:
                if connection.in_transaction:
                    connection.execute("ROLLBACK")
                raise
            connection.execute("COMMIT")
            faults.reached("written", what)
    except BaseException:
        connection.close()
        if new_file and os.path.isfile(path) and os.path.getsize(path) == 0:
            os.remove(path)  # nothing was committed: leave no empty file behind (it would be refused later)
        raise
    connection.close()
