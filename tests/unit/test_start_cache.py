"""Start caches: which cells have one, what LiteRT is told, a cold start's empty folder, and the bound."""

from __future__ import annotations

import os
import time

from device_agent.contract import CellRequest, PruneRequest
from device_agent.engines.litert_capi import HW_CPU, HW_GPU, HW_NPU
from device_agent.storage import start_cache
from device_agent.storage.store import FileStore

MODEL = "a" * 64


def _request(backend: str, gpu_delegate: str = "") -> CellRequest:
    return CellRequest(MODEL, backend, gpu_delegate=gpu_delegate)


def test_only_litert_s_gpu_and_npu_keep_a_start_cache(tmp_path):
    assert start_cache.for_request(tmp_path, _request("cpu1")) is None
    assert start_cache.for_request(tmp_path, _request("nnapi")) is None
    assert start_cache.for_request(tmp_path, _request("gpu", gpu_delegate="libclassic.so")) is None, (
        "the classic delegate"
    )
    gpu = start_cache.for_request(tmp_path, _request("gpu"))
    npu = start_cache.for_request(tmp_path, _request("npu"))
    assert gpu is not None and gpu.kind == "GPU program cache" and gpu.folder == tmp_path / "caches" / MODEL / "gpu"
    assert npu is not None and npu.kind == "NPU compiled model" and npu.folder == tmp_path / "caches" / MODEL / "npu"
    assert start_cache.for_request(tmp_path / 'a"b', _request("gpu")) is None, (
        "a folder LiteRT's option text cannot hold"
    )


def test_the_gpu_is_told_its_program_cache_and_the_npu_its_compiler_cache_folder(tmp_path):
    gpu = start_cache.for_request(tmp_path, _request("gpu-fp32"))
    assert gpu is not None
    options, folder = start_cache.applied({"gpu_options": "precision = 2\n"}, HW_GPU, gpu)
    assert folder == "" and options["gpu_options"] == (
        f'precision = 2\nserialization_dir = "{gpu.folder}"\n'
        'model_cache_key = "gpu-fp32"\nserialize_program_cache = true\n'
    )
    npu = start_cache.for_request(tmp_path, _request("npu"))
    assert npu is not None
    assert start_cache.applied({"intel_openvino": "x"}, HW_NPU, npu) == ({"intel_openvino": "x"}, str(npu.folder))
    assert start_cache.applied({}, HW_CPU, npu) == ({}, "")


def test_a_cold_start_begins_with_an_empty_folder_and_a_warm_one_keeps_it(tmp_path):
    cache = start_cache.for_request(tmp_path, _request("npu"))
    assert cache is not None
    start_cache.prepare(cache, cold=True)
    (cache.folder / "compiled").write_bytes(b"x" * 100)
    start_cache.prepare(cache, cold=False)
    assert cache.files_bytes() == 100
    start_cache.prepare(cache, cold=True)
    assert cache.folder.is_dir() and cache.files_bytes() == 0


def _cache(root, model: str, size: int, age_days: float) -> None:
    folder = root / "caches" / model / "gpu"
    folder.mkdir(parents=True)
    (folder / "k_mldrift_program_cache.bin").write_bytes(b"x" * size)
    stamp = time.time() - age_days * 86400
    os.utime(folder.parent, (stamp, stamp))


def test_caches_beyond_the_bound_go_least_recently_used_first_never_a_kept_model(tmp_path):
    for model, size, age in (("o" * 64, 400, 3), ("m" * 64, 300, 2), ("n" * 64, 200, 1)):
        _cache(tmp_path, model, size, age)
    trimmed = start_cache.trim(tmp_path, 400, keep=frozenset({"o" * 64}))
    assert (trimmed.removed_files, trimmed.removed_bytes, trimmed.kept_bytes) == (1, 300, 600)
    assert sorted(p.name[0] for p in (tmp_path / "caches").iterdir()) == ["n", "o"]


def test_pruning_the_store_removes_the_caches_of_the_models_it_removed(tmp_path):
    store = FileStore(tmp_path)
    kept, dropped = store.put_bytes(b"kept model"), store.put_bytes(b"old model")
    os.utime(store.path(dropped), (0, 0))
    _cache(tmp_path, kept, 100, 0)
    _cache(tmp_path, dropped, 100, 0)
    pruned = store.prune(PruneRequest(max_bytes=10**6, max_age_days=30))
    assert not store.stat(dropped).exists and (pruned.removed_files, pruned.removed_bytes) == (
        2,
        len(b"old model") + 100,
    )
    assert [p.name for p in (tmp_path / "caches").iterdir()] == [kept]
    assert store.prune(PruneRequest(max_bytes=len(b"kept model"))).removed_bytes == 100, "the budget counts caches too"


def test_the_start_table_shows_cold_and_warm_and_says_why_a_cell_has_no_warm_figure():
    from dataclasses import replace

    from device_agent.contract import WarmStart
    from host.report.tables import device_tables
    from host.results import cell_json, run_from_json, run_json
    from tests.records import cell, run

    def started(backend: str, warm: WarmStart | None):
        made = cell("A", "none", backend)
        return replace(made, result=replace(made.result, warm_start=warm))

    cells = (
        started("cpu1", WarmStart(note=start_cache.NO_CACHE)),
        started("gpu", WarmStart(612.5, "GPU program cache", 800_000)),
        started("npu", WarmStart(cache="NPU compiled model", note="the warm start failed: it crashed its worker")),
        started("cpu4", None),
    )
    record = replace(run("r1"), cells=cells, backends=("cpu1", "cpu4", "gpu", "npu"))
    tables = device_tables(record, "A")
    start = next(t for t in tables.tables if t.title.startswith("Start (ms)"))
    assert start.rows[0][1:] == ("1.0 / no cache", "1.0 / not measured", "1.0 / 612.5", "1.0 / none (see below)")
    assert any(
        line.startswith("start: cold = the first start") and "(GPU program cache)" in line for line in tables.lines
    )
    assert "none/npu: no warm start figure: the warm start failed: it crashed its worker" in tables.lines
    assert cell_json(cells[1])["start"] == {
        "cold_init_ms": 1.0,
        "warm_init_ms": 612.5,
        "cache": "GPU program cache",
        "cache_bytes": 800_000,
        "note": None,
    }
    again = run_from_json(run_json(record), "run.json")
    assert again.cells[1].result.warm_start == cells[1].result.warm_start
