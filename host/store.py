"""The results database: SQLite with a versioned schema; every cell is committed as it finishes.

Tables: ``runs`` (one per bench run, with the configuration needed to resume it), ``devices``
(per run), ``cells`` (one per device x mode x backend, replaced when a resumed run redoes it),
and ``samples`` (each cell's raw latency samples as a float64 blob, for distribution-level
comparisons). Readers open the file read-only and write nothing; a reader waits out a writer's
commit (busy timeout), so a report can be read while a bench writes.
"""

from __future__ import annotations

import functools
import json
import sqlite3
import threading
import urllib.parse
from array import array
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

from host.codec import decode, encode, loads
from host.errors import InputError, RecordError, StoreError
from host.params import Param
from host.results import (
    CellRecord,
    DatasetInfo,
    DeviceRecord,
    ModelInfo,
    RepeatRecord,
    RunRecord,
    RunStats,
    part_json,
    result_from_parts,
)

SCHEMA_VERSION = 2  # 2: repeats (each cell measured several times) and per-image outcomes
APPLICATION_ID = 0x51424E43  # "QBNC" in the SQLite header: this file is a quantbench results database
DB = Param(None, "results database (default: ~/.local/share/quantbench/results.sqlite)", metavar="FILE")
T = TypeVar("T")
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY, started TEXT NOT NULL, finished TEXT, tool_version TEXT NOT NULL,
    model TEXT NOT NULL, dataset TEXT NOT NULL, config TEXT NOT NULL, notes TEXT NOT NULL DEFAULT '[]',
    stats TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE IF NOT EXISTS devices (
    run_id TEXT NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE, serial TEXT NOT NULL, info TEXT NOT NULL,
    PRIMARY KEY (run_id, serial)
);
CREATE TABLE IF NOT EXISTS cells (
    run_id TEXT NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE, device TEXT NOT NULL, mode TEXT NOT NULL,
    backend TEXT NOT NULL, status TEXT NOT NULL, error TEXT NOT NULL, phase TEXT NOT NULL, size_bytes INTEGER,
    latency TEXT, memory TEXT, delegation TEXT, accuracy TEXT, fidelity TEXT, outputs_sha256 TEXT NOT NULL,
    finished TEXT NOT NULL, extra TEXT NOT NULL DEFAULT '{}', outcomes BLOB,
    PRIMARY KEY (run_id, device, mode, backend)
);
CREATE TABLE IF NOT EXISTS repeats (
    run_id TEXT NOT NULL, device TEXT NOT NULL, mode TEXT NOT NULL, backend TEXT NOT NULL, repeat INTEGER NOT NULL,
    kind TEXT NOT NULL, position INTEGER NOT NULL, median_ms REAL NOT NULL, record TEXT NOT NULL, samples BLOB NOT NULL,
    PRIMARY KEY (run_id, device, mode, backend, kind, repeat)
);
CREATE TABLE IF NOT EXISTS samples (
    run_id TEXT NOT NULL, device TEXT NOT NULL, mode TEXT NOT NULL, backend TEXT NOT NULL,
    count INTEGER NOT NULL, data BLOB NOT NULL,
    PRIMARY KEY (run_id, device, mode, backend)
);
"""


# Columns added after a table first shipped: (table, column, definition). Opening a database
# adds whichever are missing, so older files keep working.
_ADDED_COLUMNS = (
    ("runs", "stats", "TEXT NOT NULL DEFAULT '{}'"),
    ("cells", "extra", "TEXT NOT NULL DEFAULT '{}'"),
    ("cells", "outcomes", "BLOB"),
)


def _mapped(method: Callable[..., T]) -> Callable[..., T]:
    """sqlite3 errors (a locked, damaged or foreign file) become StoreError with the path."""

    @functools.wraps(method)
    def wrapper(self: ResultsStore, *args: Any, **kwargs: Any) -> T:
        try:
            return method(self, *args, **kwargs)
        except sqlite3.Error as e:
            raise StoreError(f"results database {self.path}: {e}") from e

    return wrapper


def _dump(value: object) -> str | None:
    data = part_json(value)
    return None if data is None else json.dumps(data)


_CELL_COLUMNS = ("device, mode, backend, status, error, phase, size_bytes, latency, memory, delegation, accuracy, fidelity, "
                 "outputs_sha256, finished, extra, outcomes")


class ResultsStore:
    """One results database. Writers migrate it; readers (``read_only``) never change a byte, so
    a database on a read-only filesystem, or one being written by a bench, can be read."""

    def __init__(self, path: Path, *, read_only: bool = False) -> None:
        self.path = path
        self.read_only = read_only
        self._lock = threading.RLock()  # devices run in threads and share this connection
        try:
            self._db = self._connect()
            self._check_ours()
            if not read_only:
                # a rollback journal, not WAL: readers then open the file read-only without creating
                # -wal/-shm files (nothing of a reader is ever written), and wait out a writer's commit
                self._db.execute("PRAGMA journal_mode=DELETE")
                self._db.execute("PRAGMA foreign_keys=ON")
                self._migrate()
            self._check_schema()
        except sqlite3.DatabaseError as e:
            raise StoreError(f"{path} is not a usable results database: {e}") from e

    def _connect(self) -> sqlite3.Connection:
        if not self.read_only:
            self.path.parent.mkdir(parents=True, exist_ok=True)
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
            return sqlite3.connect(uri + "?mode=ro&immutable=1", uri=True, isolation_level=None, check_same_thread=False)

    def _check_ours(self) -> None:
        """Refuse, untouched, a database that another application made."""
        app_id = int(self._db.execute("PRAGMA application_id").fetchone()[0])
        tables = {str(r[0]) for r in self._db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if app_id == APPLICATION_ID or (app_id == 0 and not tables and not self.read_only):
            return
        if app_id == 0 and {"meta", "runs", "cells"} <= tables:
            return  # written before databases were marked; a writer marks it
        found = f"application_id {app_id:#x}" if app_id else "tables " + ", ".join(sorted(tables)[:6]) if tables else "no tables"
        raise StoreError(f"{self.path} is not a quantbench results database ({found}); it was left untouched: pass --db "
                         "with a results file of ours, or a new path")

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        if self.read_only:
            raise StoreError(f"{self.path} was opened read-only")
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _migrate(self) -> None:
        with self._transaction() as db:
            for statement in _SCHEMA.strip().split(";"):
                if statement.strip():
                    db.execute(statement)
            for table, column, definition in _ADDED_COLUMNS:
                present = {row[1] for row in db.execute(f"PRAGMA table_info({table})")}
                if column not in present:
                    db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {definition}")
            row = db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
            if row is None:
                db.execute("INSERT INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
            elif str(row[0]).isdigit() and int(row[0]) < SCHEMA_VERSION:
                db.execute("UPDATE meta SET value=? WHERE key='schema_version'", (str(SCHEMA_VERSION),))
            db.execute(f"PRAGMA application_id={APPLICATION_ID}")

    def _check_schema(self) -> None:
        row = self._db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        if row is None or not str(row[0]).isdigit():
            raise StoreError(f"{self.path} is damaged: its schema_version is {None if row is None else row[0]!r}, not a number")
        if int(row[0]) > SCHEMA_VERSION:
            raise StoreError(f"{self.path} has schema {row[0]}, newer than this tool's {SCHEMA_VERSION}: upgrade quantbench")
        for table, column, _ in _ADDED_COLUMNS:
            if column not in {r[1] for r in self._db.execute(f"PRAGMA table_info({table})")}:
                raise StoreError(f"{self.path} was written by an older quantbench: any 'host bench --db {self.path}' upgrades it")

    # -- writing --------------------------------------------------------------------------
    @_mapped
    def create_run(self, run: RunRecord) -> None:
        with self._transaction() as db:
            db.execute(
                "INSERT INTO runs (run_id, started, tool_version, model, dataset, config, notes) VALUES (?,?,?,?,?,?,?)",
                (run.run_id, run.started, run.tool_version, json.dumps(encode(run.model)), json.dumps(encode(run.dataset)),
                 json.dumps(dict(run.config)), json.dumps(list(run.notes))),
            )

    @_mapped
    def add_device(self, run_id: str, device: DeviceRecord) -> None:
        with self._transaction() as db:
            db.execute("INSERT OR REPLACE INTO devices VALUES (?,?,?)", (run_id, device.serial, json.dumps(encode(device))))

    @_mapped
    def save_cell(self, run_id: str, cell: CellRecord) -> None:
        """Commit one finished cell (and its samples) at once."""
        r = cell.result
        extra = {"evaluate_seconds": r.evaluate_seconds, "evaluated_images": r.evaluated_images, "accuracy_note": r.accuracy_note}
        samples = r.latency.samples_ms if r.latency else ()
        with self._transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO cells VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (run_id, cell.device, cell.mode, cell.backend, r.status, r.error, r.phase, cell.size_bytes,
                 _dump(r.latency), _dump(r.memory), _dump(r.delegation), _dump(r.accuracy), _dump(r.fidelity),
                 r.outputs_sha256, cell.finished, json.dumps(extra), cell.outcomes or None),
            )
            db.execute("DELETE FROM repeats WHERE run_id=? AND device=? AND mode=? AND backend=?", (run_id, *cell.key))
            db.execute("DELETE FROM samples WHERE run_id=? AND device=? AND mode=? AND backend=?", (run_id, *cell.key))
            if samples:
                db.execute("INSERT INTO samples VALUES (?,?,?,?,?,?)", (run_id, *cell.key, len(samples), array("d", samples).tobytes()))

    @_mapped
    def save_repeat(self, run_id: str, key: tuple[str, str, str], repeat: RepeatRecord) -> None:
        """Commit one repeat of a cell (its samples with it) at once."""
        record = {k: v for k, v in encode(repeat).items() if k not in ("samples_ms", "repeat", "kind", "position", "median_ms")}
        with self._transaction() as db:
            db.execute("INSERT OR REPLACE INTO repeats VALUES (?,?,?,?,?,?,?,?,?,?)",
                       (run_id, *key, repeat.repeat, repeat.kind, repeat.position, repeat.median_ms, json.dumps(record),
                        array("d", repeat.samples_ms).tobytes()))

    @_mapped
    def finish_run(self, run_id: str, stamp: str, notes: list[str], stats: RunStats) -> None:
        with self._transaction() as db:
            db.execute("UPDATE runs SET finished=?, notes=?, stats=? WHERE run_id=?",
                       (stamp, json.dumps(notes), json.dumps(encode(stats)), run_id))

    # -- reading --------------------------------------------------------------------------
    @_mapped
    def resolve_run_id(self, ref: str | None) -> str:
        """``latest``/None gives the newest run; a prefix of a run id is accepted when unique."""
        if not ref or ref == "latest":
            row = self._db.execute("SELECT run_id FROM runs ORDER BY started DESC, rowid DESC LIMIT 1").fetchone()
            if row is None:
                raise InputError(f"no runs in {self.path}: run 'host bench' first")
            return str(row[0])
        rows = self._db.execute("SELECT run_id FROM runs WHERE run_id LIKE ?", (ref + "%",)).fetchall()
        if len(rows) != 1:
            raise InputError(f"run {ref!r} {'is ambiguous' if rows else 'not found'} in {self.path}")
        return str(rows[0][0])

    @_mapped
    def load_run(self, ref: str | None) -> RunRecord:
        run_id = self.resolve_run_id(ref)
        row = self._db.execute(
            "SELECT run_id, started, finished, tool_version, model, dataset, config, notes, stats FROM runs WHERE run_id=?", (run_id,),
        ).fetchone()
        where = f"{self.path}: run {run_id}"
        config = loads(row[6], f"{where} config")
        if not isinstance(config, dict):
            raise RecordError(f"{where} config: expected an object")
        devices = tuple(decode(DeviceRecord, loads(info, f"{where} device"), f"{where} device")
                        for (info,) in self._db.execute("SELECT info FROM devices WHERE run_id=? ORDER BY serial", (run_id,)))
        modes, backends = tuple(config.get("modes", [])), tuple(config.get("backends", []))
        cells = sorted(self._load_cells(run_id, where), key=lambda c: (
            c.device, modes.index(c.mode) if c.mode in modes else 99, backends.index(c.backend) if c.backend in backends else 99))
        return RunRecord(
            run_id=row[0], started=row[1], finished=row[2] or "", tool_version=row[3],
            model=decode(ModelInfo, loads(row[4], f"{where} model"), f"{where} model"),
            dataset=decode(DatasetInfo, loads(row[5], f"{where} dataset"), f"{where} dataset"),
            modes=modes, backends=backends, config=config, devices=devices, cells=tuple(cells),
            notes=tuple(loads(row[7], f"{where} notes") or ()),
            stats=decode(RunStats, loads(row[8], f"{where} stats") or {}, f"{where} stats"),
        )

    def _load_cells(self, run_id: str, where: str) -> list[CellRecord]:
        samples = {}
        for d, m, b, blob in self._db.execute("SELECT device, mode, backend, data FROM samples WHERE run_id=?", (run_id,)):
            if len(blob) % 8:
                raise RecordError(f"{where}: the samples of {m}/{b} are damaged ({len(blob)} bytes, not a multiple of 8)")
            samples[(d, m, b)] = tuple(array("d", blob))
        repeats = self._load_repeats(run_id, where)
        cells = []
        for c in self._db.execute(f"SELECT {_CELL_COLUMNS} FROM cells WHERE run_id=?", (run_id,)):
            here = f"{where} cell {c[1]}/{c[2]}"
            parts = {key: loads(text, f"{here} {key}") for key, text in zip(
                ("latency_ms", "memory_mb", "delegation", "accuracy", "fidelity"), c[7:12], strict=True)}
            extra = loads(c[14], f"{here} extra") or {}
            result = result_from_parts(
                c[3], c[4], c[5], parts, here, outputs_sha256=c[12], evaluate_seconds=float(extra.get("evaluate_seconds", 0.0)),
                evaluated_images=int(extra.get("evaluated_images", 0)), accuracy_note=str(extra.get("accuracy_note", "")),
            )
            if result.latency is not None:
                result = replace(result, latency=replace(result.latency, samples_ms=samples.get((c[0], c[1], c[2]), ())))
            cells.append(CellRecord(c[0], c[1], c[2], result, size_bytes=c[6], finished=c[13],
                                    repeats=repeats.get((c[0], c[1], c[2]), ()), outcomes=bytes(c[15] or b"")))
        return cells

    def _load_repeats(self, run_id: str, where: str) -> dict[tuple[str, str, str], tuple[RepeatRecord, ...]]:
        found: dict[tuple[str, str, str], list[RepeatRecord]] = {}
        rows = self._db.execute("SELECT device, mode, backend, repeat, kind, position, median_ms, record, samples FROM repeats "
                                "WHERE run_id=? ORDER BY kind, repeat", (run_id,))
        for d, m, b, repeat, kind, position, median, record, blob in rows:
            here = f"{where} cell {m}/{b} repeat {repeat}"
            if len(blob) % 8:
                raise RecordError(f"{here}: its samples are damaged ({len(blob)} bytes, not a multiple of 8)")
            data = {**(loads(record, here) or {}), "repeat": repeat, "kind": kind, "position": position, "median_ms": median,
                    "samples_ms": list(array("d", blob))}
            found.setdefault((d, m, b), []).append(decode(RepeatRecord, data, here))
        return {key: tuple(values) for key, values in found.items()}
