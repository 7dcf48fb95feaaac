"""The results database: round trip with samples, replaced cells, migrations, refusal of newer files."""

from __future__ import annotations

import sqlite3

import pytest

from host.errors import InputError
from host.results import CellRecord, DeviceRecord, RunRecord
from host.store import ResultsStore, StoreError


def _run(run_id: str = "r1") -> RunRecord:
    return RunRecord(run_id, "2026-11-22T00:00:00+00:00", "0.1.0", {"name": "m", "sha256": "a" * 64, "input_shape": [1, 8, 8, 3]},
                     {"name": "d", "sha256": "b" * 64, "count": 3}, {"modes": ["none", "float16"], "backends": ["cpu1", "gpu"]})


def test_round_trip_keeps_cells_samples_and_order(tmp_path):
    store = ResultsStore(tmp_path / "r.sqlite")
    store.create_run(_run())
    store.add_device("r1", DeviceRecord("emu", "model", "x86_64", 34, "ai-edge-litert", "2.3.0", 2, True))
    store.save_cell("r1", CellRecord("emu", "float16", "cpu1", "ok", latency_ms={"p50": 1.0}, samples_ms=(1.0, 2.0, 3.0)))
    store.save_cell("r1", CellRecord("emu", "none", "gpu", "unavailable", error="no GPU"))
    store.save_cell("r1", CellRecord("emu", "none", "cpu1", "failed", error="boom"))
    store.save_cell("r1", CellRecord("emu", "none", "cpu1", "ok", samples_ms=(0.5,), extra={"evaluate_seconds": 1.5}))
    store.finish_run("r1", "2026-11-22T00:01:00+00:00", ["a note"], {"pushed_files": 0})
    store.close()
    run = ResultsStore(tmp_path / "r.sqlite").load_run("latest")
    assert [(c.mode, c.backend, c.status) for c in run.cells] == [("none", "cpu1", "ok"), ("none", "gpu", "unavailable"), ("float16", "cpu1", "ok")]
    assert run.cells[2].samples_ms == (1.0, 2.0, 3.0) and run.cells[0].extra == {"evaluate_seconds": 1.5}
    assert run.devices[0].emulated and run.stats == {"pushed_files": 0} and run.notes == ("a note",)


def test_an_older_file_gains_the_new_columns(tmp_path):
    db = sqlite3.connect(tmp_path / "old.sqlite")
    db.executescript("""
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        INSERT INTO meta VALUES ('schema_version', '1');
        CREATE TABLE runs (run_id TEXT PRIMARY KEY, started TEXT NOT NULL, finished TEXT, tool_version TEXT NOT NULL,
            model TEXT NOT NULL, dataset TEXT NOT NULL, config TEXT NOT NULL, notes TEXT NOT NULL DEFAULT '[]');
        CREATE TABLE cells (run_id TEXT NOT NULL, device TEXT NOT NULL, mode TEXT NOT NULL, backend TEXT NOT NULL,
            status TEXT NOT NULL, error TEXT NOT NULL, phase TEXT NOT NULL, size_bytes INTEGER, latency TEXT, memory TEXT,
            delegation TEXT, accuracy TEXT, fidelity TEXT, outputs_sha256 TEXT NOT NULL, finished TEXT NOT NULL,
            PRIMARY KEY (run_id, device, mode, backend));
        INSERT INTO runs VALUES ('old', '2026-01-01', NULL, '0.0.9', '{"name": "m"}', '{}', '{"modes": ["none"]}', '[]');
        INSERT INTO cells VALUES ('old', 'emu', 'none', 'cpu1', 'ok', '', 'done', 10, NULL, NULL, NULL, NULL, NULL, '', 'x');
    """)
    db.close()
    run = ResultsStore(tmp_path / "old.sqlite").load_run("old")
    assert run.stats == {} and run.cells[0].extra == {}


def test_a_newer_schema_or_a_foreign_file_is_refused_as_input(tmp_path):
    store = ResultsStore(tmp_path / "new.sqlite")
    store._db.execute("UPDATE meta SET value='99' WHERE key='schema_version'")
    store.close()
    with pytest.raises(StoreError, match="newer than this tool"):
        ResultsStore(tmp_path / "new.sqlite")
    (tmp_path / "junk.sqlite").write_bytes(b"junk" * 1000)
    with pytest.raises(InputError):
        ResultsStore(tmp_path / "junk.sqlite")
    with pytest.raises(InputError, match="not found"):
        ResultsStore(tmp_path / "empty.sqlite").load_run("nope")
