"""The results database: round trip with samples, replaced cells, migrations, refusal of newer files."""

from __future__ import annotations

import sqlite3
from dataclasses import replace

import pytest

from host.errors import InputError
from host.results import DeviceRecord, RunStats
from host.store import ResultsStore, StoreError
from tests.records import cell, run


def test_round_trip_keeps_typed_cells_samples_and_order(tmp_path):
    store = ResultsStore(tmp_path / "r.sqlite")
    store.create_run(run("r1"))
    store.add_device("r1", DeviceRecord("emu", "model", "x86_64", 34, "ai-edge-litert", "2.3.0", 2, True))
    slow = cell("emu", "float16", "cpu1", samples=(1.0, 2.0, 3.0))
    store.save_cell("r1", slow)
    store.save_cell("r1", cell("emu", "none", "gpu", status="unavailable", error="no GPU"))
    store.save_cell("r1", cell("emu", "none", "cpu1", status="failed"))
    reference = cell("emu", "none", "cpu1", samples=(0.5,), outputs="c" * 64)
    reference = replace(reference, result=replace(reference.result, evaluate_seconds=1.5, evaluated_images=100))
    store.save_cell("r1", reference)
    store.finish_run("r1", "2026-11-22T00:01:00+00:00", ["a note"], RunStats(pushed_files=2))
    store.close()
    loaded = ResultsStore(tmp_path / "r.sqlite").load_run("latest")
    assert [(c.mode, c.backend, c.status) for c in loaded.cells] == [
        ("none", "cpu1", "ok"),
        ("none", "gpu", "unavailable"),
        ("float16", "cpu1", "ok"),
    ]
    assert loaded.cells[2] == slow, "a cell reads back exactly as it was written, samples included"
    assert loaded.cells[0] == reference and loaded.cells[1].error == "no GPU"
    assert loaded.devices[0].emulated and loaded.stats == RunStats(pushed_files=2) and loaded.notes == ("a note",)
    assert (loaded.modes, loaded.backends) == (("none", "float16"), ("cpu1", "cpu4", "gpu"))


def test_an_older_file_gains_the_new_columns(tmp_path):
    db = sqlite3.connect(tmp_path / "old.sqlite")
    db.executescript("""
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        INSERT INTO meta VALUES ('schema_version', '1');
        CREATE TABLE runs (run_id TEXT PRIMARY KEY, started TEXT NOT NULL, finished TEXT, tool_version TEXT NOT NULL,
            model TEXT NOT NULL, dataset TEXT NOT NULL, config TEXT NOT NULL, notes TEXT NOT NULL DEFAULT '[]');
        CREATE TABLE cells (run_id TEXT NOT NULL, device TEXT NOT NULL, mode TEXT NOT NULL, backend TEXT NOT NULL,
            status TEXT NOT NULL, error TEXT NOT NULL, phase TEXT NOT NULL, size_bytes INTEGER, latency TEXT,
            memory TEXT, delegation TEXT, accuracy TEXT, fidelity TEXT, outputs_sha256 TEXT NOT NULL,
            finished TEXT NOT NULL,
            PRIMARY KEY (run_id, device, mode, backend));
        INSERT INTO runs VALUES ('old', '2026-01-01', NULL, '0.0.9',
                                 '{"name": "m", "sha256": "a", "input_shape": [1, 8, 8, 3]}',
                                 '{}', '{"modes": ["none"]}', '[]');
        INSERT INTO cells VALUES ('old', 'emu', 'none', 'cpu1', 'ok', '', 'done', 10,
                                  NULL, NULL, NULL, NULL, NULL, '', 'x');
    """)
    db.close()
    old = ResultsStore(tmp_path / "old.sqlite").load_run("old")
    assert old.stats == RunStats() and old.cells[0].result.evaluated_images == 0 and old.model.name == "m"


def test_a_newer_schema_or_a_foreign_file_is_refused_as_input(tmp_path):
    store = ResultsStore(tmp_path / "new.sqlite")
    store.backend.execute("UPDATE meta SET value='99' WHERE key='schema_version'")
    store.close()
    with pytest.raises(StoreError, match="newer than this tool"):
        ResultsStore(tmp_path / "new.sqlite")
    (tmp_path / "junk.sqlite").write_bytes(b"junk" * 1000)
    with pytest.raises(InputError):
        ResultsStore(tmp_path / "junk.sqlite")
    with pytest.raises(InputError, match="not found"):
        ResultsStore(tmp_path / "empty.sqlite").load_run("nope")


def test_the_run_json_names_each_devices_launcher_and_fingerprint_and_reads_them_back():
    from host.results import Fingerprint, run_from_json, run_json
    from tests.records import device

    printed = Fingerprint(
        build="google/panther/14", soc="Google Tensor G2", governors=("schedutil",), max_khz=(2850000,)
    )
    record = replace(run("r1"), devices=(device("A", launcher="termux-run-as", fingerprint=printed),))
    (written,) = run_json(record)["devices"]
    assert written["launcher"] == "termux-run-as" and written["fingerprint"]["id"] == printed.id
    assert written["fingerprint"]["build"] == "google/panther/14"
    (again,) = run_from_json(run_json(record), "run.json").devices
    assert again.launcher == "termux-run-as" and again.fingerprint == printed
