"""A results database that goes away mid-run and comes back: a PostgreSQL restart or stop (a real
server, Debian's package) and a SQLite file another writer holds. The write in flight is kept
and retried; only a database that stays away past the retries ends the command, with exit 1."""

from __future__ import annotations

import sqlite3

import pytest

from host.errors import ExitCode, StoreUnavailable
from host.store import ResultsStore
from tests.postgres import fresh_database, pg_ctl, server_or_skip
from tests.records import cell, run


@pytest.fixture(scope="module")
def server():
    yield from server_or_skip()


def test_a_postgresql_restart_between_two_writes_loses_nothing(server):
    url = fresh_database(server)
    store = ResultsStore(url)
    store.create_run(run("r1"))
    store.save_cell("r1", cell("A", "none", "cpu1"))
    told = []
    store.on_retry = told.append
    pg_ctl(server, "restart", "-m", "fast")  # terminates the store's connection ("administrator command")
    store.save_cell("r1", cell("A", "float16", "cpu1"))
    assert told and "unavailable" in told[0]
    assert {c.mode for c in store.load_run("r1").cells} == {"none", "float16"}
    store.close()


def test_a_stopped_server_is_waited_for_and_the_write_lands_when_it_is_back(server):
    url = fresh_database(server)
    store = ResultsStore(url)
    store.create_run(run("r2"))
    pg_ctl(server, "stop", "-m", "fast")
    store.on_retry = lambda text: pg_ctl(server, "start")  # it comes back while the write waits
    store.save_cell("r2", cell("A", "none", "cpu1"))
    assert [c.mode for c in store.load_run("r2").cells] == ["none"]
    store.close()


def test_a_server_that_stays_away_ends_the_command_with_exit_1(server):
    url = fresh_database(server)
    store = ResultsStore(url)
    store.create_run(run("r3"))
    store.retry_s = 1.0
    pg_ctl(server, "stop", "-m", "fast")
    try:
        with pytest.raises(StoreUnavailable, match="stayed unavailable") as raised:
            store.save_cell("r3", cell("A", "none", "cpu1"))
        assert raised.value.exit_code == ExitCode.FAILED
    finally:
        pg_ctl(server, "start")
        store.close()


def test_a_sqlite_file_another_writer_holds_is_waited_for(tmp_path):
    path = tmp_path / "results.sqlite"
    store = ResultsStore(path)
    store.create_run(run("r4"))
    store.backend.execute("PRAGMA busy_timeout=50")  # SQLite's own wait, short, so the store's retry is what is tested
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    store.on_retry = lambda text: other.execute("COMMIT")  # the other writer lets go once the store waits
    store.save_cell("r4", cell("A", "none", "cpu1"))
    assert [c.mode for c in store.load_run("r4").cells] == ["none"]
    other.execute("BEGIN EXCLUSIVE")
    store.retry_s, store.on_retry = 0.5, lambda text: None
    with pytest.raises(StoreUnavailable):
        store.save_cell("r4", cell("A", "float16", "cpu1"))
    other.execute("COMMIT")
    other.close()
    store.close()
