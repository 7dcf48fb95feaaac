"""The agent on what phones have: Termux's grpcio 1.81.1, tflite_runtime as well as ai_edge_litert,
numpy 1.26 and 2.x. CI installs two floor environments (``.ci/run``): grpcio 1.81.1 with numpy
1.26 and tflite-runtime, and grpcio 1.81.1 with numpy 2.x and ai-edge-litert (PyPI's tflite-runtime
wheels are built for numpy 1.x only), and names their Pythons in ``QUANTBENCH_FLOOR_PYTHONS``;
the zipapp runs real cells under each, with nothing of ours on its path, the LiteRT engine's too.
"""

from __future__ import annotations

import ast
import os
import subprocess
from pathlib import Path

import pytest

from tests.agent_helpers import dataset_bytes, put, request
from tests.conftest import EXPECTED

ROOT = Path(__file__).resolve().parents[2]
FLOOR = [p for p in os.environ.get("QUANTBENCH_FLOOR_PYTHONS", "").split(os.pathsep) if p]


def test_the_agent_is_python_3_10_syntax():
    """The floor is Python 3.10: the agent's code must parse as 3.10 (no newer syntax)."""
    for path in sorted((ROOT / "device_agent").rglob("*.py")):
        ast.parse(path.read_text(), filename=str(path), feature_version=(3, 10))


@pytest.mark.skipif(not FLOOR, reason="no floor environment (CI sets QUANTBENCH_FLOOR_PYTHONS; see .ci/run)")
@pytest.mark.parametrize("python", FLOOR or ["none"])
def test_the_zipapp_runs_real_cells_on_the_floor_runtimes(python, tmp_path, token, known_answer):
    from device_agent.contract import Accuracy
    from device_agent.zipapp import build_zipapp
    from emulated_device import drivers
    from host.convert.modes import MODES_BY_NAME
    from host.convert.quantizer_route import quantize
    from host.devices.agent.client import AgentClient
    from host.devices.launch.litert import lay_out, wheel_release

    versions = subprocess.run(
        [
            python,
            "-c",
            "import grpc, numpy, importlib.util as u; print(grpc.__version__, numpy.__version__, "
            "'ai-edge-litert' if u.find_spec('ai_edge_litert') else 'tflite-runtime')",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert versions[0] == "1.81.1", versions
    build_zipapp(tmp_path / "agent.pyz")
    lay_out(wheel_release(), tmp_path / "litert")  # LiteRT beside the store, as provisioning leaves it on a phone
    software = drivers.find()
    proc = subprocess.Popen(
        [python, str(tmp_path / "agent.pyz"), "serve", "--root", str(tmp_path / "root"), "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
        env={
            "PATH": os.environ.get("PATH", ""),
            "QUANTBENCH_AGENT_TOKEN": token,
            **drivers.direct_environment(software),
        },
    )
    line = proc.stdout.readline()
    assert line.startswith("LISTENING"), proc.stderr.read() if proc.poll() is not None else line
    client = AgentClient(f"127.0.0.1:{int(line.split()[1])}", token)
    try:
        info = client.device_info()
        assert info.runtime == versions[2] and info.backend("cpu1").available
        (tmp_path / "files").mkdir()
        data = put(client, tmp_path / "files", dataset_bytes(known_answer.images, known_answer.labels))
        for kind in ("float", "uint8"):
            result = client.run_cell(
                request(put(client, tmp_path / "files", known_answer.models[kind]), dataset_sha256=data, preset="unit"),
                deadline_s=120,
            )
            assert result.ok, result.error
            assert result.accuracy == Accuracy(**EXPECTED)
        # an int4 weight-only build (LiteRT's quantizer): tflite-runtime 2.14 has no int4 DEQUANTIZE kernel, and says so
        int4 = quantize(known_answer.models["float"], MODES_BY_NAME["weight_only_wi4"], None)
        result = client.run_cell(
            request(put(client, tmp_path / "files", int4), dataset_sha256=data, preset="unit"), deadline_s=120
        )
        if versions[2] == "tflite-runtime":
            assert (
                result.status == "unavailable"
                and "DEQUANTIZE kernel" in result.error
                and "tflite-runtime 2.14" in result.error
            ), result
        else:
            assert result.ok, result.error
        # the LiteRT engine (C API through ctypes) on the same floor: only numpy, grpcio and protobuf besides
        float_model = put(client, tmp_path / "files", known_answer.models["float"])
        for backend in ("npu", "gpu") if software.gpu else ("npu",):
            result = client.run_cell(request(float_model, backend, dataset_sha256=data, preset="unit"), deadline_s=180)
            assert result.ok, (backend, result.error)
            delegation = result.delegation
            assert delegation is not None and delegation.engine == "litert-compiled-model"
            assert delegation.delegated_nodes == delegation.total_nodes > 0 and result.accuracy is not None
    finally:
        client.close()
        proc.terminate()
        proc.wait(timeout=20)
