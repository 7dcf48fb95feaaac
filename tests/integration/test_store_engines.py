"""The results store on both engines: SQLite files and a real PostgreSQL server (Debian's package).

Round trip, migrations from an older schema, refusal of newer or foreign databases, read-only
readers, several controllers writing at once (nothing lost), and the CLI's ``--db`` forms.
"""

from __future__ import annotations

import multiprocessing
from dataclasses import replace

import numpy as np
import pytest

from host.cli import main
from host.errors import InputError, StoreError
from host.results import DeviceRecord, RunStats
from host.store import ResultsStore
from tests.postgres import fresh_database, server_or_skip
from tests.records import cell, run


@pytest.fixture(scope="module")
def postgres():
    yield from server_or_skip()


@pytest.fixture(params=["sqlite", "postgresql"])
def where(request, tmp_path):
    if request.param == "sqlite":
        return str(tmp_path / "results.sqlite")
    return fresh_database(request.getfixturevalue("postgres"))


def _write_run(where: str, run_id: str, cells: int, shared: str | None = None) -> None:
    """One controller: its own run, cell by cell with two repeats each, and cells of a shared run."""
    store = ResultsStore(where)
    store.create_run(run(run_id))
    for i in range(cells):
        c = cell(f"dev-{run_id}", f"mode{i}", "cpu1", medians=(1.0 + i, 1.1 + i), right=[True, False, True])
        store.save_cell(run_id, c)
        for repeat in c.repeats:
            store.save_repeat(run_id, c.key, repeat)
        if shared:
            store.save_cell(shared, cell(f"dev-{run_id}", f"mode{i}", "cpu4"))
    store.finish_run(run_id, "2026-11-23T00:00:00+00:00", [], RunStats(cells_run=cells))
    store.close()


def test_round_trip_with_repeats_outcomes_and_fingerprints(where):
    store = ResultsStore(where)
    store.create_run(run("r1"))
    store.add_device("r1", DeviceRecord("emu", "model", "x86_64", 34, "ai-edge-litert", "2.3.0", 2, True))
    measured = replace(
        cell(
            "emu",
            "float16",
            "cpu1",
            samples=(1.0, 2.0, 3.0),
            medians=(1.5, 1.6),
            throttled=(3.0,),
            right=np.arange(20) % 3 == 0,
        ),
        fingerprint="f" * 16,
    )
    store.save_cell("r1", measured)
    for repeat in measured.repeats:
        store.save_repeat("r1", measured.key, repeat)
    store.save_cell("r1", cell("emu", "none", "gpu", status="unavailable", error="no GPU"))
    store.finish_run("r1", "2026-11-22T00:01:00+00:00", ["a note"], RunStats(pushed_files=2))
    store.close()
    loaded = ResultsStore(where, read_only=True).load_run("latest")
    assert loaded.cells[1] == measured, "a cell reads back exactly as written: samples, repeats, outcomes, fingerprint"
    assert loaded.cells[0].error == "no GPU" and loaded.stats == RunStats(pushed_files=2) and loaded.devices[0].emulated


def test_a_reader_writes_nothing_and_a_newer_schema_is_refused(where):
    ResultsStore(where).close()
    reader = ResultsStore(where, read_only=True)
    with pytest.raises(StoreError, match="read-only"):
        reader.create_run(run("r1"))
    reader.close()
    store = ResultsStore(where)
    store.backend.execute("UPDATE meta SET value='99' WHERE key='schema_version'")
    store.close()
    with pytest.raises(StoreError, match="newer than this tool"):
        ResultsStore(where)
    with pytest.raises(InputError):
        ResultsStore(where, read_only=True).load_run("x")


def test_several_controllers_writing_at_once_lose_nothing(where):
    ResultsStore(where).create_run(run("shared"))
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_write_run, args=(where, f"run{i}", 15, "shared")) for i in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=300)
    assert [w.exitcode for w in workers] == [0, 0, 0, 0]
    store = ResultsStore(where, read_only=True)
    assert set(store.run_ids()) == {"shared", "run0", "run1", "run2", "run3"}
    for i in range(4):
        mine = store.load_run(f"run{i}")
        assert len(mine.cells) == 15 and all(len(c.repeats) == 2 and c.outcomes for c in mine.cells)
    assert len(store.load_run("shared").cells) == 60


def test_a_postgresql_database_gains_the_new_columns_and_keeps_other_tables(postgres):
    import psycopg

    url = fresh_database(postgres)
    with psycopg.connect(url, autocommit=True) as db:  # another application's table, and our schema 1 of old
        db.execute("CREATE TABLE contacts (name TEXT)")
        db.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        db.execute("INSERT INTO meta VALUES ('schema_version', '1'), ('application', 'quantbench')")
        db.execute(
            "CREATE TABLE runs (run_id TEXT PRIMARY KEY, started TEXT NOT NULL, finished TEXT, tool_version TEXT "
            "NOT NULL, model TEXT NOT NULL, dataset TEXT NOT NULL, config TEXT NOT NULL, notes TEXT NOT NULL DEFAULT "
            "'[]')"
        )
        db.execute("""INSERT INTO runs VALUES ('old', '2026-01-01', NULL, '0.0.9', '{"name": "m", "sha256": "a",
                   "input_shape": [1, 8, 8, 3]}', '{}', '{"modes": ["none"]}', '[]')""")
    old = ResultsStore(url).load_run("old")
    assert old.stats == RunStats() and old.model.name == "m" and old.cells == ()
    with psycopg.connect(url) as db:
        assert db.execute("SELECT to_regclass('contacts') IS NOT NULL").fetchone() == (True,)


def test_a_foreign_postgresql_schema_is_refused_untouched(postgres):
    import psycopg

    url = fresh_database(postgres)
    with psycopg.connect(url, autocommit=True) as db:
        db.execute("CREATE TABLE runs (id SERIAL PRIMARY KEY, miles REAL)")
    with pytest.raises(StoreError, match="is not a quantbench results database"):
        ResultsStore(url)
    with psycopg.connect(url) as db:
        assert db.execute("SELECT count(*) FROM information_schema.tables WHERE table_schema='public'").fetchone() == (
            1,
        )


def test_the_cli_takes_a_postgresql_url_from_db_or_the_environment_never_a_password(
    postgres, tmp_path, capsys, monkeypatch
):
    url = fresh_database(postgres)
    _write_run(url, "r1", 2)
    assert main(["report", "r1", "--db", url, "--format", "json"]) == 0
    assert '"run_id": "r1"' in capsys.readouterr().out
    monkeypatch.setenv("QUANTBENCH_DB", url.replace("quantbench@", "quantbench:secret@"))
    assert main(["report", "latest", "--format", "json"]) == 0, "a password is fine in the environment"
    capsys.readouterr()
    assert main(["report", "--db", url.replace("quantbench@", "quantbench:secret@")]) == 2
    err = capsys.readouterr().err
    assert "password on the command line" in err and "secret" not in err
    assert main(["report", "--db", "postgresql://quantbench@127.0.0.1:1/none"]) == 2
    assert "cannot reach the results database postgresql://quantbench@127.0.0.1:1/none" in capsys.readouterr().err
