"""GPU and NPU end to end: LiteRT provisioned over ADB, the emulated device's software GPU/NPU,
refusals, a crashing accelerator, and outputs that cannot be scored."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from host.cli import main
from host.devices.launch.litert import wheel_release
from host.store import ResultsStore
from tests.adb_fixtures import isolated_host
from tests.builders import elementwise_layer, keras
from tests.unit.test_accelerators import fake_library

FAST = ["--min-runs", "5", "--min-seconds", "0.02", "--warmup-seconds", "0.01", "--repeats", "1"]


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    root = tmp_path_factory.mktemp("accel")
    with isolated_host(root):
        assert main(["emulator", "start"]) == 0
        yield root


def _demo_eval() -> Path:
    from host.data.demo import split_folder

    return split_folder("eval")


def _classes() -> int:
    return sum(1 for p in _demo_eval().iterdir() if p.is_dir())


def _bench(env: Path, name: str, *args: str, exit_code: int | None = None) -> dict:
    out = env / f"{name}.json"
    code = main(["bench", *args, "--limit", "20", "--db", str(env / "r.sqlite"), "--json", str(out), *FAST])
    assert code in (0, 1) if exit_code is None else code == exit_code
    return {(c["mode"], c["backend"]): c for c in json.loads(out.read_text())["cells"]}


def _tflite(model, path: Path) -> Path:
    import tensorflow as tf

    path.write_bytes(tf.lite.TFLiteConverter.from_keras_model(model).convert())
    return path


def test_provision_pushes_the_wheels_litert_and_gpu_gpu_fp32_npu_run_with_their_coverage_and_warm_starts(env, capsys):
    release = wheel_release()
    assert main(["provision", "--litert", str(release.source)]) == 0
    said = capsys.readouterr().out
    assert f"LiteRT {release.version} (x86_64)" in said and "libLiteRtWebGpuAccelerator.so" in said
    cells = _bench(env, "accel", "--modes", "none", "--backends", "cpu1,gpu,gpu-fp32,npu", "--tables", "all")
    for backend in ("gpu", "gpu-fp32", "npu"):
        cell = cells[("none", backend)]
        assert cell["status"] == "ok", cell
        assert cell["delegation"]["delegated_nodes"] == cell["delegation"]["total_nodes"] > 0
        assert cell["fidelity"]["top1_agreement"] >= 0.95, cell  # fp32 SwiftShader; OpenVINO's CPU precision
    start = {backend: cells[("none", backend)]["start"] for backend in ("cpu1", "gpu", "npu")}
    assert start["cpu1"]["warm_init_ms"] is None and "keeps nothing on disk" in start["cpu1"]["note"]
    assert start["npu"]["cache"] == "NPU compiled model" and start["npu"]["cache_bytes"] > 0
    assert 0 < start["npu"]["warm_init_ms"] < start["npu"]["cold_init_ms"], start  # the plugin's compile is skipped
    # Not asserted faster: SwiftShader compiles every pipeline again (its Subzero JIT) whatever the GPU's program
    # cache holds, so the software GPU's warm start is measured, from the cache it read, and is about as slow
    assert start["gpu"]["cache"] == "GPU program cache" and start["gpu"]["cache_bytes"] > 0, start
    assert start["gpu"]["warm_init_ms"] > 0, start
    printed = capsys.readouterr().out
    assert "Start (ms): cold init / warm init" in printed and "no cache: the TFLite interpreter" in printed
    assert "software GPU: SwiftShader (fp32)" in printed and "recommend ignores it" in printed
    assert "GPU WebGPU (LiteRT 2.3.0, fp32 enforced)" in printed and "via IntelOpenvino dispatch" in printed


def test_a_litert_build_for_another_abi_is_refused_by_name_before_anything_is_pushed(env, tmp_path, capsys):
    folder = tmp_path / "2.3.1" / "android_arm64"
    fake_library(folder / "libLiteRt.so", 183)
    assert main(["provision", "--litert", str(folder)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "is x86_64 (x86_64) but libLiteRt.so" in err[0] and "is aarch64" in err[0]


def test_an_unknown_litert_version_makes_gpu_and_npu_unavailable_naming_both(env, capsys):
    release = wheel_release()
    try:
        assert main(["provision", "--litert", str(release.source), "--litert-version", "9.1.0"]) == 0
        cells = _bench(env, "unknown", "--modes", "none", "--backends", "cpu1,gpu,npu")
        assert cells[("none", "cpu1")]["status"] == "ok"
        for backend in ("gpu", "npu"):
            cell = cells[("none", backend)]
            assert (
                cell["status"] == "unavailable"
                and "LiteRT 9.1.0 is installed" in cell["error"]
                and "knows LiteRT 2.3" in cell["error"]
            )
    finally:
        assert main(["provision", "--litert", str(release.source)]) == 0


def test_an_accelerator_that_aborts_when_loaded_costs_only_its_cells(env, tmp_path):
    if shutil.which("gcc") is None:
        pytest.skip("needs gcc to build the aborting accelerator")
    folder = tmp_path / "crashing"
    folder.mkdir()
    release = wheel_release()
    shutil.copy2(release.files["libLiteRt.so"], folder / "libLiteRt.so")
    source = tmp_path / "boom.c"
    source.write_text("#include <stdlib.h>\n__attribute__((constructor)) static void boom(void) { abort(); }\n")
    subprocess.run(
        ["gcc", "-shared", "-fPIC", "-o", str(folder / "libLiteRtWebGpuAccelerator.so"), str(source)], check=True
    )
    try:
        assert main(["provision", "--litert", str(folder), "--litert-version", release.version]) == 0
        cells = _bench(env, "crash", "--modes", "none,float16", "--backends", "cpu1,gpu")
        assert all(cells[(m, "cpu1")]["status"] == "ok" for m in ("none", "float16"))
        for mode in ("none", "float16"):
            cell = cells[(mode, "gpu")]
            assert cell["status"] in ("unavailable", "failed") and (
                "SIGABRT" in cell["error"] or "crashed" in cell["error"]
            ), cell
    finally:
        assert main(["provision", "--litert", str(release.source)]) == 0


def test_a_model_that_yields_nan_fails_numerics_on_every_backend(env, tmp_path):
    k = keras()
    inp = k.Input((64, 64, 3))
    x = k.layers.GlobalAveragePooling2D()(inp)
    classes = _classes()
    dense = k.layers.Dense(classes)
    x = dense(x)
    model = k.Model(inp, elementwise_layer("Root", k.ops.sqrt)(x))
    signs = np.array([1.0 if i % 2 == 0 else -1.0 for i in range(classes)], dtype=np.float32)
    dense.set_weights([np.stack([signs] * 3), np.zeros(classes, dtype=np.float32)])
    path = _tflite(model, tmp_path / "nan.tflite")
    cells = _bench(
        env,
        "nan",
        "--model",
        str(path),
        "--modes",
        "none",
        "--dataset",
        str(_demo_eval()),
        "--backends",
        "cpu1,gpu,npu",
        exit_code=1,
    )  # a numerics cell is a failed cell: the run exits 1
    for backend in ("cpu1", "gpu", "npu"):
        (cell,) = [c for (mode, b), c in cells.items() if b == backend]
        assert cell["status"] == "numerics", cell
        assert "NaN outputs" in cell["error"] and cell["accuracy"] is None and cell["fidelity"] is None
    store = ResultsStore(env / "r.sqlite", read_only=True)
    stored = store.load_run(json.loads((env / "nan.json").read_text())["run_id"])
    store.close()
    for cell in stored.cells:  # the counts are kept, not only the sentence
        numerics = cell.result.numerics
        assert numerics is not None and numerics.nan_values > 0 and numerics.first_image >= 0, cell


def test_activations_past_fp16s_range_pass_on_gpu_fp32_and_fail_on_an_fp16_gpu(env, tmp_path, capsys):
    k = keras()
    inp = k.Input((64, 64, 3))
    x = k.layers.GlobalAveragePooling2D()(inp)
    classes = _classes()
    big = k.layers.Dense(classes)
    x = big(x)  # about 1e5: past fp16's 65504
    x = k.layers.Softmax()(k.layers.Rescaling(1e-5)(x))  # normalised back into range
    model = k.Model(inp, x)
    scales = np.linspace(5e4, 2e5, classes, dtype=np.float32)
    big.set_weights([np.stack([scales] * 3), np.full(classes, 1e5, dtype=np.float32)])
    path = _tflite(model, tmp_path / "wide.tflite")
    cells = _bench(
        env,
        "wide",
        "--model",
        str(path),
        "--modes",
        "none",
        "--dataset",
        str(_demo_eval()),
        "--backends",
        "cpu1,gpu,gpu-fp32",
    )
    by_backend = {b: c for (_, b), c in cells.items()}
    assert by_backend["gpu-fp32"]["status"] == "ok", by_backend["gpu-fp32"]
    printed = capsys.readouterr().out
    if "this GPU has no fp16" in printed:
        assert by_backend["gpu"]["status"] == "ok"  # the same fp32 arithmetic: nothing to split
        pytest.skip("this GPU (SwiftShader) has no fp16: the fp16 half of this test cannot run here")
    assert by_backend["gpu"]["status"] == "numerics", by_backend["gpu"]
