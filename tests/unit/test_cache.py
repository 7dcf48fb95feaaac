"""Caches stay bounded: unused entries age out, the least recently used go first, kept files stay."""

from __future__ import annotations

import hashlib
import os
import time

from device_agent.contract import PruneRequest
from device_agent.storage.store import FileStore
from host.cache import prune_host
from host.cli import main


def _entry(path, size: int, age_days: float) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x" * size)
    stamp = time.time() - age_days * 86400
    os.utime(path, (stamp, stamp))


def test_host_caches_lose_old_entries_then_the_least_recently_used(tmp_path):
    _entry(tmp_path / "convert" / "old.tflite", 1000, 40)
    _entry(tmp_path / "convert" / "a.tflite", 3_000_000, 3)
    _entry(tmp_path / "datasets" / "b.npz", 3_000_000, 2)
    _entry(tmp_path / "bench-models" / "m1" / "none.tflite", 1_000_000, 1)
    _entry(tmp_path / "demo-data" / "v1" / "eval.png", 5_000_000, 100)
    report = prune_host(max_mb=4.5, max_days=30, root=tmp_path)
    assert report.removed_entries == 2 and report.kept_bytes == 4_000_000
    assert not (tmp_path / "convert" / "old.tflite").exists(), "unused for 40 days"
    assert not (tmp_path / "convert" / "a.tflite").exists(), "the least recently used beyond the budget"
    assert (tmp_path / "datasets" / "b.npz").exists() and (tmp_path / "bench-models" / "m1").is_dir()
    assert (tmp_path / "demo-data" / "v1" / "eval.png").exists(), "the demo images are not a pruned cache"


def test_the_agent_store_keeps_the_current_run_s_files_whatever_the_budget(tmp_path):
    store = FileStore(tmp_path / "agent")
    names = []
    for age, size in ((10, 400), (5, 300), (1, 200)):
        data = os.urandom(size)
        name = store.put_bytes(data)
        names.append(name)
        stamp = time.time() - age * 86400
        os.utime(store.path(name), (stamp, stamp))
    pruned = store.prune(PruneRequest(max_bytes=250, keep_sha256=(names[0],)))
    assert (pruned.removed_files, pruned.kept_files) == (1, 2)
    assert store.stat(names[0]).exists, "kept although oldest: the current run uses it"
    assert store.stat(names[2]).exists and not store.stat(names[1]).exists
    assert store.prune(PruneRequest(max_bytes=10**9, max_age_days=3)).removed_files == 1  # names[0], 10 days unused


def test_using_a_stored_file_marks_it_recently_used(tmp_path):
    store = FileStore(tmp_path / "agent")
    name = store.put_bytes(b"model")
    os.utime(store.path(name), (0, 0))
    store.require(name)
    assert store.path(name).stat().st_mtime > time.time() - 60
    assert hashlib.sha256(store.path(name).read_bytes()).hexdigest() == name


def test_cache_prune_command(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("QUANTBENCH_CACHE_DIR", str(tmp_path))
    _entry(tmp_path / "datasets" / "b.npz", 2_000_000, 1)
    assert main(["cache", "prune", "--max-mb", "1"]) == 0
    assert "removed 1 entries (2.0 MB)" in capsys.readouterr().out and not (tmp_path / "datasets" / "b.npz").exists()
