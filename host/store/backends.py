"""The two database engines behind the one results store: what differs between them, and only that.

Statements are written once, with ``?`` placeholders and the SQL both engines accept (``INSERT ...
ON CONFLICT ... DO UPDATE``, ``LIKE``); a backend adapts placeholders and column types, opens and
marks the database as ours, and runs transactions:

* SQLite: a rollback journal (a reader opens the file read-only and writes nothing, and waits out
  a writer's commit); ``BEGIN IMMEDIATE`` so concurrent writers queue instead of failing.
* PostgreSQL (psycopg 3): one connection per store, transactions serialized by the store's lock;
  migrations take an advisory lock, so controllers starting together do not race; readers
  connect with read-only transactions.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

from host.errors import StoreError
from host.fsio import private_file
from host.store.location import StoreLocation

APPLICATION_ID = 0x51424E43  # "QBNC" in the SQLite header: this file is a quantbench results database
APPLICATION = "quantbench"  # the mark in a PostgreSQL database's meta table
MIGRATION_LOCK = 0x51424E43  # pg_advisory_xact_lock key
OUR_TABLES = frozenset({"meta", "runs", "devices", "cells", "repeats", "samples", "energy"})


class Backend(Protocol):
    where: str
    errors: tuple[type[Exception], ...]

    def execute(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]: ...
    def transaction(self, *, migrating: bool = False) -> contextlib.AbstractContextManager[None]: ...
    def tables(self) -> set[str]: ...
    def columns(self, table: str) -> set[str]: ...
    def column_type(self, abstract: str) -> str: ...
    def ours(self) -> bool | None: ...
    def fresh(self) -> bool: ...
    def mark(self) -> None: ...
    def foreign(self) -> str: ...
    def close(self) -> None: ...
    def transient(self, error: Exception) -> bool: ...
    def reconnect(self) -> None: ...


class SqliteBackend:
    errors: tuple[type[Exception], ...] = (sqlite3.Error,)

    def __init__(self, path: Path, read_only: bool) -> None:
        self.path, self.read_only, self.where = path, read_only, str(path)
        self._lock = threading.RLock()
        self.db = self._connect()
        if not read_only:
            self.db.execute("PRAGMA journal_mode=DELETE")
            self.db.execute("PRAGMA foreign_keys=ON")

    def _connect(self) -> sqlite3.Connection:
        if not self.read_only:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            private_file(self.path)  # a new database is the user's alone (its -wal and -shm follow it)
            return sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
        if not self.path.is_file():
            raise StoreError(f"no results database at {self.path}: run 'host bench' first or pass --db")
        uri = "file:" + urllib.parse.quote(str(self.path.resolve()))
        db = sqlite3.connect(uri + "?mode=ro", uri=True, timeout=30, isolation_level=None, check_same_thread=False)
        try:
            db.execute("SELECT count(*) FROM sqlite_master").fetchone()
            return db
        except sqlite3.OperationalError:  # WAL on a read-only filesystem: no -shm can be made
            db.close()
            return sqlite3.connect(
                uri + "?mode=ro&immutable=1", uri=True, isolation_level=None, check_same_thread=False
            )

    def execute(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return self.db.execute(sql, params).fetchall()

    @contextlib.contextmanager
    def transaction(self, *, migrating: bool = False) -> Iterator[None]:
        with self._lock:
            self.db.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                self.db.execute("ROLLBACK")
                raise
            self.db.execute("COMMIT")

    def tables(self) -> set[str]:
        return {str(r[0]) for r in self.execute("SELECT name FROM sqlite_master WHERE type='table'")}

    def columns(self, table: str) -> set[str]:
        return {str(r[1]) for r in self.execute(f"PRAGMA table_info({table})")}

    def column_type(self, abstract: str) -> str:
        return abstract

    def ours(self) -> bool | None:
        """True: marked ours; None: unmarked (empty, or ours from before the mark); False: foreign."""
        app_id = int(self.execute("PRAGMA application_id")[0][0])
        return True if app_id == APPLICATION_ID else None if app_id == 0 else False

    def fresh(self) -> bool:
        return not self.tables()

    def mark(self) -> None:
        self.execute(f"PRAGMA application_id={APPLICATION_ID}")

    def foreign(self) -> str:
        app_id = int(self.execute("PRAGMA application_id")[0][0])
        tables = sorted(self.tables())
        return f"application_id {app_id:#x}" if app_id else "tables " + ", ".join(tables[:6]) if tables else "no tables"

    def close(self) -> None:
        self.db.close()

    def transient(self, error: Exception) -> bool:
        """Another writer holds the database: it will let go (SQLite's busy timeout already waited)."""
        text = str(error).lower()
        return isinstance(error, sqlite3.OperationalError) and ("locked" in text or "busy" in text)

    def reconnect(self) -> None:
        """Nothing to reconnect: the file is still there."""


class PostgresBackend:
    def __init__(self, location: StoreLocation, read_only: bool) -> None:
        import psycopg

        self.errors: tuple[type[Exception], ...] = (psycopg.Error,)
        self.where = location.describe()
        self._lock = threading.RLock()
        self._dsn, self._options = location.dsn, "-c default_transaction_read_only=on" if read_only else ""
        try:
            self.db = psycopg.connect(self._dsn, autocommit=True, connect_timeout=15, options=self._options)
        except psycopg.Error as e:
            raise StoreError(f"cannot reach the results database {self.where}: {str(e).strip().splitlines()[0]}") from e

    def transient(self, error: Exception) -> bool:
        """The server went away or is restarting (an upgrade, a failover, ``pg_ctl restart``): the
        connection is lost, or the server is not accepting connections yet."""
        import psycopg

        return isinstance(error, (psycopg.OperationalError, psycopg.InterfaceError)) or self.db.closed

    def reconnect(self) -> None:
        """A new connection in place of the lost one (raises the engine's error while the server is away)."""
        import psycopg

        with self._lock:
            with contextlib.suppress(psycopg.Error):
                self.db.close()
            self.db = psycopg.connect(self._dsn, autocommit=True, connect_timeout=15, options=self._options)

    @staticmethod
    def _sql(sql: str) -> str:
        return sql.replace("%", "%%").replace("?", "%s")

    def execute(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            cursor = self.db.execute(self._sql(sql), params)
            rows = cursor.fetchall() if cursor.description else []
            return [tuple(bytes(v) if isinstance(v, memoryview) else v for v in row) for row in rows]

    @contextlib.contextmanager
    def transaction(self, *, migrating: bool = False) -> Iterator[None]:
        with self._lock, self.db.transaction():
            if migrating:
                self.db.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
            yield

    def tables(self) -> set[str]:
        return {
            str(r[0])
            for r in self.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
            )
        }

    def columns(self, table: str) -> set[str]:
        return {
            str(r[0])
            for r in self.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() AND "
                "table_name = ?",
                (table,),
            )
        }

    def column_type(self, abstract: str) -> str:
        return {"INTEGER": "BIGINT", "REAL": "DOUBLE PRECISION", "BLOB": "BYTEA"}.get(abstract, abstract)

    def ours(self) -> bool | None:
        if "meta" not in self.tables():
            return None
        row = self.execute("SELECT value FROM meta WHERE key='application'")
        return True if row and row[0][0] == APPLICATION else None

    def fresh(self) -> bool:
        """None of our tables yet (a shared database may hold other applications' tables)."""
        return not self.tables() & OUR_TABLES

    def mark(self) -> None:
        self.execute("INSERT INTO meta VALUES ('application', ?) ON CONFLICT (key) DO NOTHING", (APPLICATION,))

    def foreign(self) -> str:
        return "tables " + ", ".join(sorted(self.tables())[:6])

    def close(self) -> None:
        self.db.close()


def connect(location: StoreLocation, read_only: bool) -> Backend:
    if location.postgres:
        return PostgresBackend(location, read_only)
    assert location.path is not None
    return SqliteBackend(location.path, read_only)
