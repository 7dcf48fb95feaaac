"""The results schema, once for both engines, and its migrations.

Each migration is a list of idempotent steps (create a table if missing, add a column if
missing), so a database at any earlier version, including files written before versions were
counted precisely, reaches the current one; a writer applies them in one transaction (under an
advisory lock on PostgreSQL) and records the version. Column types are abstract (TEXT, INTEGER,
REAL, BLOB) and become each engine's own.

Tables: ``runs`` (one per bench run, with the configuration needed to resume it), ``devices``
(per run, with the device's fingerprint), ``cells`` (one per device x mode x backend, replaced
when a resumed run redoes it), ``repeats`` (each timing of a cell, with the phone's state around
it), ``samples`` (each cell's raw latency samples as float64, for distribution comparisons),
``energy`` (a cell's energy per inference with its source, repeats and interval, or why not).
"""

from __future__ import annotations

from dataclasses import dataclass

from host.errors import StoreError
from host.store.backends import Backend


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[tuple[str, str], ...]  # (name, abstract definition)
    key: tuple[str, ...]
    parent: bool = False  # rows belong to a run: removed with it


@dataclass(frozen=True)
class Column:
    table: str
    name: str
    definition: str


RUNS = Table(
    "runs",
    (
        ("run_id", "TEXT NOT NULL"),
        ("started", "TEXT NOT NULL"),
        ("finished", "TEXT"),
        ("tool_version", "TEXT NOT NULL"),
        ("model", "TEXT NOT NULL"),
        ("dataset", "TEXT NOT NULL"),
        ("config", "TEXT NOT NULL"),
        ("notes", "TEXT NOT NULL DEFAULT '[]'"),
    ),
    ("run_id",),
)
MIGRATIONS: tuple[tuple[int, tuple[Table | Column, ...]], ...] = (
    (
        1,
        (
            Table("meta", (("key", "TEXT NOT NULL"), ("value", "TEXT NOT NULL")), ("key",)),
            RUNS,
            Table(
                "devices",
                (("run_id", "TEXT NOT NULL"), ("serial", "TEXT NOT NULL"), ("info", "TEXT NOT NULL")),
                ("run_id", "serial"),
                parent=True,
            ),
            Table(
                "cells",
                (
                    ("run_id", "TEXT NOT NULL"),
                    ("device", "TEXT NOT NULL"),
                    ("mode", "TEXT NOT NULL"),
                    ("backend", "TEXT NOT NULL"),
                    ("status", "TEXT NOT NULL"),
                    ("error", "TEXT NOT NULL"),
                    ("phase", "TEXT NOT NULL"),
                    ("size_bytes", "INTEGER"),
                    ("latency", "TEXT"),
                    ("memory", "TEXT"),
                    ("delegation", "TEXT"),
                    ("accuracy", "TEXT"),
                    ("fidelity", "TEXT"),
                    ("outputs_sha256", "TEXT NOT NULL"),
                    ("finished", "TEXT NOT NULL"),
                ),
                ("run_id", "device", "mode", "backend"),
                parent=True,
            ),
            Table(
                "samples",
                (
                    ("run_id", "TEXT NOT NULL"),
                    ("device", "TEXT NOT NULL"),
                    ("mode", "TEXT NOT NULL"),
                    ("backend", "TEXT NOT NULL"),
                    ("count", "INTEGER NOT NULL"),
                    ("data", "BLOB NOT NULL"),
                ),
                ("run_id", "device", "mode", "backend"),
            ),
            Column("runs", "stats", "TEXT NOT NULL DEFAULT '{}'"),
            Column("cells", "extra", "TEXT NOT NULL DEFAULT '{}'"),
        ),
    ),
    (
        2,
        (  # repeats (each cell measured several times) and per-image outcomes
            Column("cells", "outcomes", "BLOB"),
            Table(
                "repeats",
                (
                    ("run_id", "TEXT NOT NULL"),
                    ("device", "TEXT NOT NULL"),
                    ("mode", "TEXT NOT NULL"),
                    ("backend", "TEXT NOT NULL"),
                    ("repeat", "INTEGER NOT NULL"),
                    ("kind", "TEXT NOT NULL"),
                    ("position", "INTEGER NOT NULL"),
                    ("median_ms", "REAL NOT NULL"),
                    ("record", "TEXT NOT NULL"),
                    ("samples", "BLOB NOT NULL"),
                ),
                ("run_id", "device", "mode", "backend", "kind", "repeat"),
            ),
        ),
    ),
    (
        3,
        (  # the device's fingerprint with every cell (which build, kernel, runtime measured it)
            Column("cells", "fingerprint", "TEXT NOT NULL DEFAULT ''"),
        ),
    ),
    (
        4,
        (  # energy per inference (issue 38): one row per cell that measured it, or said why not
            Table(
                "energy",
                (
                    ("run_id", "TEXT NOT NULL"),
                    ("device", "TEXT NOT NULL"),
                    ("mode", "TEXT NOT NULL"),
                    ("backend", "TEXT NOT NULL"),
                    ("source", "TEXT NOT NULL"),
                    ("mj_per_inference", "REAL"),
                    ("record", "TEXT NOT NULL"),
                ),
                ("run_id", "device", "mode", "backend"),
            ),
        ),
    ),
)
SCHEMA_VERSION = MIGRATIONS[-1][0]
EXPECTED_COLUMNS = tuple(step for _, steps in MIGRATIONS for step in steps if isinstance(step, Column))


def _typed(backend: Backend, definition: str) -> str:
    kind, _, rest = definition.partition(" ")
    return f"{backend.column_type(kind)} {rest}".strip()


def _create(backend: Backend, table: Table) -> None:
    columns = ", ".join(f"{name} {_typed(backend, definition)}" for name, definition in table.columns)
    parent = ", FOREIGN KEY (run_id) REFERENCES runs(run_id) ON DELETE CASCADE" if table.parent else ""
    backend.execute(
        f"CREATE TABLE IF NOT EXISTS {table.name} ({columns}, PRIMARY KEY ({', '.join(table.key)}){parent})"
    )


def migrate(backend: Backend) -> None:
    """Bring the database to SCHEMA_VERSION (a no-op when it is there)."""
    with backend.transaction(migrating=True):
        present = backend.tables()
        for _, steps in MIGRATIONS:
            for step in steps:
                if isinstance(step, Table) and step.name not in present:
                    _create(backend, step)
                    present.add(step.name)
                elif isinstance(step, Column) and step.name not in backend.columns(step.table):
                    backend.execute(
                        f"ALTER TABLE {step.table} ADD COLUMN {step.name} {_typed(backend, step.definition)}"
                    )
        row = backend.execute("SELECT value FROM meta WHERE key='schema_version'")
        if not row:
            backend.execute("INSERT INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
        elif str(row[0][0]).isdigit() and int(row[0][0]) < SCHEMA_VERSION:
            backend.execute("UPDATE meta SET value=? WHERE key='schema_version'", (str(SCHEMA_VERSION),))
        backend.mark()


def check(backend: Backend) -> None:
    """Refuse a damaged, newer or not yet upgraded database, with what to do."""
    where = backend.where
    row = backend.execute("SELECT value FROM meta WHERE key='schema_version'") if "meta" in backend.tables() else []
    if not row or not str(row[0][0]).isdigit():
        raise StoreError(f"{where} is damaged: its schema_version is {row[0][0] if row else None!r}, not a number")
    if int(row[0][0]) > SCHEMA_VERSION:
        raise StoreError(f"{where} has schema {row[0][0]}, newer than this tool's {SCHEMA_VERSION}: upgrade quantbench")
    for column in EXPECTED_COLUMNS:
        if column.name not in backend.columns(column.table):
            raise StoreError(f"{where} was written by an older quantbench: any 'host bench --db {where}' upgrades it")
