"""Damaged or foreign inputs end in one line and exit 2, naming the file and what is wrong; a
database that is not ours is left untouched, and readers never write."""

from __future__ import annotations

import hashlib
import json
import sqlite3

import pytest

from host.cli import main
from host.results import RunStats, run_json
from host.store import ResultsStore
from tests.records import cell, run


def _db(tmp_path):
    path = tmp_path / "r.sqlite"
    store = ResultsStore(path)
    store.create_run(run("r1"))
    store.save_cell("r1", cell("D", "none", "cpu1"))
    store.finish_run("r1", "2026-11-22T00:01:00+00:00", [], RunStats())
    store.close()
    return path


def _one_line_error(capsys, argv):
    code = main(argv)
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Traceback" not in err[0], err
    return code, err[0]


def _fingerprint(folder):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def test_another_application_s_database_is_refused_and_left_untouched(tmp_path, capsys):
    path = tmp_path / "app.sqlite"
    db = sqlite3.connect(path)
    db.executescript("CREATE TABLE contacts (name TEXT); INSERT INTO contacts VALUES ('ada');")
    db.close()
    before = _fingerprint(tmp_path)
    for argv in (["report", "--db", str(path)], ["bench", "--db", str(path), "--device", "X"]):
        code, line = _one_line_error(capsys, argv)
        assert code == 2 and "is not a quantbench results database" in line and "contacts" in line and str(path) in line
        assert _fingerprint(tmp_path) == before, "no table, column, journal or byte was added"


def test_a_database_of_ours_is_marked_with_our_application_id(tmp_path):
    path = _db(tmp_path)
    assert sqlite3.connect(path).execute("PRAGMA application_id").fetchone()[0] == 0x51424E43


def test_reading_writes_nothing(tmp_path, capsys):
    path = _db(tmp_path)
    (tmp_path / "r.sqlite-wal").unlink(missing_ok=True)
    (tmp_path / "r.sqlite-shm").unlink(missing_ok=True)
    before = _fingerprint(tmp_path)
    assert main(["report", "latest", "--db", str(path), "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["run_id"] == "r1"
    assert _fingerprint(tmp_path) == before


@pytest.mark.parametrize(
    ("damage", "words"),
    [
        ("UPDATE cells SET latency='{not json'", "cell none/cpu1 latency_ms: not valid JSON"),
        ('UPDATE cells SET accuracy=\'{"top1": "high"}\'', "accuracy.top1: expected float"),
        ("UPDATE runs SET config='[[['", "run r1 config: not valid JSON"),
        ("UPDATE runs SET config='[1, 2]'", "run r1 config: expected an object"),
        ("UPDATE samples SET data=x'0102'", "the samples of none/cpu1 are damaged (2 bytes"),
        ("UPDATE meta SET value='abc' WHERE key='schema_version'", "its schema_version is 'abc', not a number"),
    ],
)
def test_a_damaged_row_is_one_line_naming_the_file_and_the_field(tmp_path, capsys, damage, words):
    path = _db(tmp_path)
    db = sqlite3.connect(path)
    db.execute(damage)
    db.commit()
    db.close()
    code, line = _one_line_error(capsys, ["report", "latest", "--db", str(path)])
    assert code == 2 and words in line and str(path) in line


@pytest.mark.parametrize(
    ("content", "words"),
    [
        ("[]", "is not a host bench JSON run"),
        ("{not json", "not readable JSON"),
        (json.dumps({"run_id": "x", "cells": [{"device": "D"}]}), "cells[0]: missing 'status'"),
    ],
)
def test_check_with_a_json_file_that_is_not_a_run(tmp_path, capsys, content, words):
    good = tmp_path / "good.json"
    good.write_text(json.dumps(run_json(run("r1", [cell("D", "none", "cpu1")]))))
    bad = tmp_path / "bad.json"
    bad.write_text(content)
    code, line = _one_line_error(capsys, ["check", "--baseline", str(good), "--current", str(bad)])
    assert code == 2 and words in line and str(bad) in line
