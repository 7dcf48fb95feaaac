"""The results store: runs, devices, cells, repeats and samples, in SQLite or PostgreSQL.

Every cell and every repeat is committed as it finishes, so a killed bench loses nothing it
measured. Writers migrate the database (``host.store.schema``); readers (``read_only``) never
change a byte, so a database on a read-only filesystem, or one a bench is writing, can be read.
Several controllers (CI jobs, lab hosts) may write one PostgreSQL database at once: each
statement set is one transaction, and rows are keyed by run, device, mode and backend.
"""

from __future__ import annotations

import contextlib
import functools
import json
import time
from array import array
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import replace
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, TypeVar

from device_agent.contract import CellResult, Numerics, OpProfile, WarmStart
from host.codec import JsonObject, decode, encode, loads
from host.errors import InputError, RecordError, StoreError, StoreUnavailable
from host.results import (
    CellRecord,
    DatasetInfo,
    DeviceRecord,
    EnergyRecord,
    ModelInfo,
    RepeatRecord,
    RunRecord,
    RunStats,
    TaskMetrics,
    part_json,
    result_from_parts,
    run_from_json,
)
from host.store import schema
from host.store.backends import connect
from host.store.location import StoreLocation, locate

T = TypeVar("T")
P = ParamSpec("P")
_CELL_COLUMNS = (
    "device",
    "mode",
    "backend",
    "status",
    "error",
    "phase",
    "size_bytes",
    "latency",
    "memory",
    "delegation",
    "accuracy",
    "fidelity",
    "outputs_sha256",
    "finished",
    "extra",
    "outcomes",
    "fingerprint",
)
_REPEAT_COLUMNS = ("device", "mode", "backend", "repeat", "kind", "position", "median_ms", "record", "samples")


RETRY_S = 120.0  # how long a lost server or a held lock is waited for before the command gives up
FIRST_DELAY_S, MAX_DELAY_S = 0.25, 8.0


def _first_line(error: Exception) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _mapped(method: Callable[Concatenate[ResultsStore, P], T]) -> Callable[Concatenate[ResultsStore, P], T]:
    """The engine's errors become the host's: a server that went away or a database another
    writer holds is waited for (reconnecting, with backoff, for up to ``RETRY_S``; each method is
    one transaction of idempotent statements, so it is simply run again), and only then is the
    command given up with StoreUnavailable; any other error (damaged, foreign) is StoreError."""

    @functools.wraps(method)
    def wrapper(self: ResultsStore, *args: P.args, **kwargs: P.kwargs) -> T:
        deadline, delay = 0.0, FIRST_DELAY_S
        while True:
            try:
                return method(self, *args, **kwargs)
            except self.backend.errors as e:
                if not self.backend.transient(e):
                    raise StoreError(f"results database {self.where}: {_first_line(e)}") from e
                deadline = deadline or time.monotonic() + self.retry_s
                if time.monotonic() >= deadline:
                    raise StoreUnavailable(
                        f"results database {self.where} stayed unavailable for {self.retry_s:g} s ({_first_line(e)})"
                    ) from e
                if delay == FIRST_DELAY_S:  # once an outage: the first retry says so
                    self.on_retry(
                        f"results database {self.where} unavailable ({_first_line(e)}); waiting up to "
                        f"{self.retry_s:g} s for it, the measurement kept"
                    )
                time.sleep(min(delay, max(0.0, deadline - time.monotonic())))
                delay = min(delay * 2, MAX_DELAY_S)
                with contextlib.suppress(*self.backend.errors):
                    self.backend.reconnect()

    return wrapper  # type: ignore[return-value]  # functools.wraps keeps the signature mypy cannot see


def _dump(value: object) -> str | None:
    data = part_json(value)
    return None if data is None else json.dumps(data)


def _upsert(table: str, columns: tuple[str, ...], key: tuple[str, ...]) -> str:
    """INSERT ... ON CONFLICT DO UPDATE: the same statement in SQLite (3.24+) and PostgreSQL."""
    updates = ", ".join(f"{c}=excluded.{c}" for c in columns if c not in key)
    return (
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' for _ in columns)}) "
        f"ON CONFLICT ({', '.join(key)}) DO " + (f"UPDATE SET {updates}" if updates else "NOTHING")
    )


def read_run(ref: str | None, where: Path | str | StoreLocation) -> RunRecord:
    """The one way a command loads a run by reference: a ``host bench --json`` file, or a run id,
    a unique prefix of one, or ``latest`` from the database (opened read-only, closed again)."""
    path = Path(ref) if ref else None
    if path is not None and path.is_file():
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError) as e:
            raise InputError(f"{path}: not readable JSON ({e})") from e
        return run_from_json(data, str(path))
    location = where if isinstance(where, StoreLocation) else locate(where, from_command_line=False)
    if not location.exists():
        raise InputError(
            f"{ref or 'latest'} is not a JSON file and there is no results database at {location.describe()}: "
            "run 'host bench' first or pass --db"
        )
    with ResultsStore(location, read_only=True) as store:
        return store.load_run(ref)


def _result_of(c: tuple[Any, ...], extra: JsonObject, here: str) -> CellResult:
    """A cells row's result: the contract's parts, and what the extra column keeps."""
    parts = {
        key: loads(text, f"{here} {key}")
        for key, text in zip(("latency_ms", "memory_mb", "delegation", "accuracy", "fidelity"), c[7:12], strict=True)
    }

    def kept(kind: type[T], key: str) -> T | None:
        return decode(kind, extra[key], f"{here} {key}") if extra.get(key) else None

    return result_from_parts(
        c[3],
        c[4],
        c[5],
        parts,
        here,
        outputs_sha256=c[12],
        evaluate_seconds=float(extra.get("evaluate_seconds", 0.0)),
        evaluated_images=int(extra.get("evaluated_images", 0)),
        accuracy_note=str(extra.get("accuracy_note", "")),
        numerics=kept(Numerics, "numerics"),
        op_profile=kept(OpProfile, "op_profile"),
        warm_start=kept(WarmStart, "warm_start"),
    )


class ResultsStore:
    """One results database, SQLite (a path) or PostgreSQL (a ``postgresql://`` URL); a context
    manager that closes it."""

    def __init__(self, where: Path | str | StoreLocation, *, read_only: bool = False) -> None:
        self.location = where if isinstance(where, StoreLocation) else locate(where, from_command_line=False)
        self.read_only = read_only
        self.retry_s = RETRY_S
        self.on_retry: Callable[[str], None] = lambda text: None  # told when the database went away and is waited for
        self.where = self.location.describe()
        try:
            self.backend = connect(self.location, read_only)
        except StoreError:
            raise
        except Exception as e:  # sqlite3.DatabaseError: a file that is not a database
            raise StoreError(f"{self.where} is not a usable results database: {e}") from e
        try:
            self._check_ours()
            if not read_only:
                schema.migrate(self.backend)
            schema.check(self.backend)
        except self.backend.errors as e:
            self.backend.close()
            raise StoreError(f"{self.where} is not a usable results database: {e}") from e
        except StoreError:
            self.backend.close()
            raise

    @property
    def path(self) -> Path | None:
        return self.location.path

    def _check_ours(self) -> None:
        """Refuse, untouched, a database that another application made."""
        mark = self.backend.ours()
        if mark is True or (mark is None and self.backend.fresh() and not self.read_only):
            return
        if mark is None and {"meta", "runs", "cells"} <= self.backend.tables():
            return  # written before databases were marked; a writer marks it
        raise StoreError(
            f"{self.where} is not a quantbench results database ({self.backend.foreign() or 'no tables'}); it "
            "was left untouched: pass --db with a results database of ours, or a new path"
        )

    def close(self) -> None:
        self.backend.close()

    def __enter__(self) -> ResultsStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _write(self) -> AbstractContextManager[None]:
        if self.read_only:
            raise StoreError(f"{self.where} was opened read-only")
        return self.backend.transaction()

    # -- writing --------------------------------------------------------------------------
    @_mapped
    def create_run(self, run: RunRecord) -> None:
        with self._write():
            self.backend.execute(  # an upsert: run again after a lost connection, it finds its own row
                _upsert(
                    "runs", ("run_id", "started", "tool_version", "model", "dataset", "config", "notes"), ("run_id",)
                ),
                (
                    run.run_id,
                    run.started,
                    run.tool_version,
                    json.dumps(encode(run.model)),
                    json.dumps(encode(run.dataset)),
                    json.dumps(dict(run.config)),
                    json.dumps(list(run.notes)),
                ),
            )

    @_mapped
    def add_device(self, run_id: str, device: DeviceRecord) -> None:
        with self._write():
            self.backend.execute(
                _upsert("devices", ("run_id", "serial", "info"), ("run_id", "serial")),
                (run_id, device.serial, json.dumps(encode(device))),
            )

    @_mapped
    def save_cell(self, run_id: str, cell: CellRecord) -> None:
        """Commit one finished cell (and its samples) at once; its earlier repeats go with a redo."""
        r = cell.result
        extra = {
            "evaluate_seconds": r.evaluate_seconds,
            "evaluated_images": r.evaluated_images,
            "accuracy_note": r.accuracy_note,
            "numerics": encode(r.numerics) if r.numerics else None,
            "op_profile": encode(r.op_profile) if r.op_profile else None,
            "op_layers": list(cell.op_layers),
            "warm_start": encode(r.warm_start) if r.warm_start else None,
            "task": encode(cell.task) if cell.task else None,
        }
        samples = r.latency.samples_ms if r.latency else ()
        values = (
            run_id,
            cell.device,
            cell.mode,
            cell.backend,
            r.status.value,
            r.error,
            r.phase,
            cell.size_bytes,
            _dump(r.latency),
            _dump(r.memory),
            _dump(r.delegation),
            _dump(r.accuracy),
            _dump(r.fidelity),
            r.outputs_sha256,
            cell.finished,
            json.dumps(extra),
            cell.outcomes or None,
            cell.fingerprint,
        )
        key = ("run_id", "device", "mode", "backend")
        with self._write():
            self.backend.execute(_upsert("cells", ("run_id", *_CELL_COLUMNS), key), values)
            for table in ("repeats", "samples", "energy"):
                self.backend.execute(
                    f"DELETE FROM {table} WHERE run_id=? AND device=? AND mode=? AND backend=?", (run_id, *cell.key)
                )
            if samples:
                self.backend.execute(
                    "INSERT INTO samples (run_id, device, mode, backend, count, data) VALUES (?,?,?,?,?,?)",
                    (run_id, *cell.key, len(samples), array("d", samples).tobytes()),
                )

    @_mapped
    def save_repeat(self, run_id: str, key: tuple[str, str, str], repeat: RepeatRecord) -> None:
        """Commit one repeat of a cell (its samples with it) at once."""
        record = {
            k: v
            for k, v in encode(repeat).items()
            if k not in ("samples_ms", "repeat", "kind", "position", "median_ms")
        }
        with self._write():
            self.backend.execute(
                _upsert(
                    "repeats", ("run_id", *_REPEAT_COLUMNS), ("run_id", "device", "mode", "backend", "kind", "repeat")
                ),
                (
                    run_id,
                    *key,
                    repeat.repeat,
                    repeat.kind,
                    repeat.position,
                    repeat.median_ms,
                    json.dumps(record),
                    array("d", repeat.samples_ms).tobytes(),
                ),
            )

    @_mapped
    def save_energy(self, run_id: str, key: tuple[str, str, str], energy: EnergyRecord) -> None:
        """Commit one cell's energy record at once (a figure, or why there is none)."""
        with self._write():
            self.backend.execute(
                _upsert(
                    "energy",
                    ("run_id", "device", "mode", "backend", "source", "mj_per_inference", "record"),
                    ("run_id", "device", "mode", "backend"),
                ),
                (run_id, *key, energy.source, energy.mj_per_inference, json.dumps(encode(energy))),
            )

    @_mapped
    def finish_run(self, run_id: str, stamp: str, notes: list[str], stats: RunStats) -> None:
        with self._write():
            self.backend.execute(
                "UPDATE runs SET finished=?, notes=?, stats=? WHERE run_id=?",
                (stamp, json.dumps(notes), json.dumps(encode(stats)), run_id),
            )

    # -- reading --------------------------------------------------------------------------
    @_mapped
    def run_ids(self) -> list[str]:
        return [str(r[0]) for r in self.backend.execute("SELECT run_id FROM runs ORDER BY started, run_id")]

    @_mapped
    def resolve_run_id(self, ref: str | None) -> str:
        """``latest``/None gives the newest run; a prefix of a run id is accepted when unique; an
        empty one is a mistake (a shell variable that was never set), never "the newest"."""
        if ref is not None and not ref.strip():
            raise InputError("the run id is empty: name a run (a prefix of its id) or 'latest'")
        if ref is None or ref == "latest":
            rows = self.backend.execute("SELECT run_id FROM runs ORDER BY started DESC, run_id DESC LIMIT 1")
            if not rows:
                raise InputError(f"no runs in {self.where}: run 'host bench' first")
            return str(rows[0][0])
        # a prefix compared as text, not a LIKE pattern: '%' or '_' in a reference are characters, not wildcards
        rows = self.backend.execute(
            "SELECT run_id FROM runs WHERE substr(run_id, 1, length(CAST(? AS TEXT))) = CAST(? AS TEXT)", (ref, ref)
        )
        if len(rows) != 1:
            raise InputError(f"run {ref!r} {'is ambiguous' if rows else 'not found'} in {self.where}")
        return str(rows[0][0])

    @_mapped
    def load_run(self, ref: str | None) -> RunRecord:
        run_id = self.resolve_run_id(ref)
        (row,) = self.backend.execute(
            "SELECT run_id, started, finished, tool_version, model, dataset, config, notes, stats FROM runs WHERE "
            "run_id=?",
            (run_id,),
        )
        where = f"{self.where}: run {run_id}"
        config = loads(row[6], f"{where} config")
        if not isinstance(config, dict):
            raise RecordError(f"{where} config: expected an object")
        devices = tuple(
            decode(DeviceRecord, loads(info, f"{where} device"), f"{where} device")
            for (info,) in self.backend.execute("SELECT info FROM devices WHERE run_id=? ORDER BY serial", (run_id,))
        )
        modes, backends = tuple(config.get("modes", [])), tuple(config.get("backends", []))
        cells = sorted(
            self._load_cells(run_id, where),
            key=lambda c: (
                c.device,
                modes.index(c.mode) if c.mode in modes else 99,
                backends.index(c.backend) if c.backend in backends else 99,
            ),
        )
        return RunRecord(
            run_id=row[0],
            started=row[1],
            finished=row[2] or "",
            tool_version=row[3],
            model=decode(ModelInfo, loads(row[4], f"{where} model"), f"{where} model"),
            dataset=decode(DatasetInfo, loads(row[5], f"{where} dataset"), f"{where} dataset"),
            modes=modes,
            backends=backends,
            config=config,
            devices=devices,
            cells=tuple(cells),
            notes=tuple(loads(row[7], f"{where} notes") or ()),
            stats=decode(RunStats, loads(row[8], f"{where} stats") or {}, f"{where} stats"),
        )

    def _load_cells(self, run_id: str, where: str) -> list[CellRecord]:
        samples = self._load_samples(run_id, where)
        repeats = self._load_repeats(run_id, where)
        energy = self._load_energy(run_id, where)
        cells = []
        for c in self.backend.execute(f"SELECT {', '.join(_CELL_COLUMNS)} FROM cells WHERE run_id=?", (run_id,)):
            here = f"{where} cell {c[1]}/{c[2]}"
            extra = loads(c[14], f"{here} extra") or {}
            result = _result_of(c, extra, here)
            if result.latency is not None:
                result = replace(
                    result, latency=replace(result.latency, samples_ms=samples.get((c[0], c[1], c[2]), ()))
                )
            task = decode(TaskMetrics, extra["task"], f"{here} task") if extra.get("task") else None
            cells.append(
                CellRecord(
                    c[0],
                    c[1],
                    c[2],
                    result,
                    size_bytes=c[6],
                    finished=c[13],
                    repeats=repeats.get((c[0], c[1], c[2]), ()),
                    outcomes=bytes(c[15] or b""),
                    fingerprint=c[16] or "",
                    op_layers=tuple(str(v) for v in extra.get("op_layers") or ()),
                    task=task,
                    energy=energy.get((c[0], c[1], c[2])),
                )
            )
        return cells

    def _load_samples(self, run_id: str, where: str) -> dict[tuple[str, str, str], tuple[float, ...]]:
        samples = {}
        for d, m, b, blob in self.backend.execute(
            "SELECT device, mode, backend, data FROM samples WHERE run_id=?", (run_id,)
        ):
            if len(blob) % 8:
                raise RecordError(
                    f"{where}: the samples of {m}/{b} are damaged ({len(blob)} bytes, not a multiple of 8)"
                )
            samples[(d, m, b)] = tuple(array("d", blob))
        return samples

    def _load_energy(self, run_id: str, where: str) -> dict[tuple[str, str, str], EnergyRecord]:
        rows = self.backend.execute("SELECT device, mode, backend, record FROM energy WHERE run_id=?", (run_id,))
        found = {}
        for d, m, b, record in rows:
            here = f"{where} cell {m}/{b} energy"
            found[(d, m, b)] = decode(EnergyRecord, loads(record, here), here)
        return found

    def _load_repeats(self, run_id: str, where: str) -> dict[tuple[str, str, str], tuple[RepeatRecord, ...]]:
        found: dict[tuple[str, str, str], list[RepeatRecord]] = {}
        rows = self.backend.execute(
            f"SELECT {', '.join(_REPEAT_COLUMNS)} FROM repeats WHERE run_id=? ORDER BY kind, repeat", (run_id,)
        )
        for d, m, b, repeat, kind, position, median, record, blob in rows:
            here = f"{where} cell {m}/{b} repeat {repeat}"
            if len(blob) % 8:
                raise RecordError(f"{here}: its samples are damaged ({len(blob)} bytes, not a multiple of 8)")
            data = {
                **(loads(record, here) or {}),
                "repeat": repeat,
                "kind": kind,
                "position": position,
                "median_ms": median,
                "samples_ms": list(array("d", blob)),
            }
            found.setdefault((d, m, b), []).append(decode(RepeatRecord, data, here))
        return {key: tuple(values) for key, values in found.items()}
