"""The device agent over real gRPC: measurement, accuracy, isolation and security."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
from dataclasses import replace
from pathlib import Path

import pytest

from device_agent.contract import Accuracy, LatencyParams
from host.devices.agent.client import AgentClient
from host.errors import AgentRequestError, AgentUnauthenticated, UploadRejected
from tests.agent_helpers import FAST, dataset_bytes, put, request, start_agent
from tests.conftest import EXPECTED

LONG = LatencyParams(warmup_runs=1, warmup_seconds=0.0, min_runs=10**9, min_seconds=60, max_seconds=60)


@pytest.fixture()
def agent(tmp_path, token):
    server, client = start_agent(tmp_path / "root", token)
    (tmp_path / "files").mkdir()
    yield client, tmp_path / "files", tmp_path / "root"
    client.close()
    server.stop(0)


def test_health_needs_no_token_and_says_serving(agent):
    client, _, _ = agent
    assert AgentClient(client.target, "wrong-token-wrong-token").health() == "SERVING"


def test_device_info_reports_runtime_and_why_backends_are_missing(agent):
    client, _, _ = agent
    info = client.device_info()
    assert info.runtime in ("ai-edge-litert", "tflite-runtime", "tensorflow") and info.runtime_version
    assert info.cores >= 1 and info.abi
    assert info.backend("cpu1").available and info.backend("cpu4").available
    gpu, npu, nnapi = info.backend("gpu"), info.backend("npu"), info.backend("nnapi")
    for backend in (gpu, info.backend("gpu-fp32"), npu):  # LiteRT's accelerators, none provisioned beside this store
        assert backend is not None and not backend.available and "no LiteRT on this device" in backend.reason
        assert "host provision --litert DIR" in backend.reason
    assert not nnapi.available and "only on Android" in nnapi.reason


def test_the_store_status_counts_what_the_store_holds_and_its_free_space(agent, tmp_path):
    client, files, _ = agent
    before = client.store_status()
    payload = tmp_path / "payload"
    payload.write_bytes(os.urandom(3000))
    client.upload(payload)
    after = client.store_status()
    assert (after.files, after.stored_bytes) == (before.files + 1, before.stored_bytes + 3000)
    assert after.free_bytes > 0


def test_latency_statistics_are_self_consistent(agent, known_answer):
    client, files, _ = agent
    sha = put(client, files, known_answer.models["float"])
    result = client.run_cell(request(sha), deadline_s=60)
    assert result.status == "ok", result.error
    lat = result.latency
    assert lat is not None and result.memory is not None and result.delegation is not None
    assert lat.min <= lat.p50 <= lat.p90 <= lat.p95 <= lat.p99 <= lat.max
    assert lat.min <= lat.mean <= lat.max
    assert lat.count >= FAST.min_runs and lat.count == len(lat.samples_ms)
    assert lat.warmup_count >= 1, "warm-up happened and was kept out of the samples"
    assert lat.init_ms > 0 and lat.first_ms > 0
    assert result.memory.peak_rss_mb >= result.memory.init_rss_mb > 0
    assert result.size_bytes == len(known_answer.models["float"])
    assert result.delegation.total_nodes >= 2 and result.delegation.delegate == "xnnpack"


@pytest.mark.parametrize("kind", ["float", "uint8", "int8"])
def test_accuracy_counts_are_exact(agent, known_answer, kind):
    client, files, _ = agent
    model = put(client, files, known_answer.models[kind])
    data = put(client, files, dataset_bytes(known_answer.images, known_answer.labels))
    result = client.run_cell(request(model, dataset_sha256=data, preset="unit"), deadline_s=60)
    assert result.status == "ok", result.error
    assert result.accuracy == Accuracy(**EXPECTED)
    assert result.evaluated_images == 10


def test_fidelity_against_the_float_reference(agent, known_answer):
    client, files, _ = agent
    data = put(client, files, dataset_bytes(known_answer.images, known_answer.labels))
    float_model, int_model = (
        put(client, files, known_answer.models["float"]),
        put(client, files, known_answer.models["uint8"]),
    )
    reference = client.run_cell(
        request(float_model, dataset_sha256=data, preset="unit", save_outputs=True), deadline_s=60
    )
    assert len(reference.outputs_sha256) == 64
    cell = client.run_cell(
        request(int_model, dataset_sha256=data, preset="unit", reference_outputs_sha256=reference.outputs_sha256),
        deadline_s=60,
    )
    assert cell.fidelity is not None and cell.fidelity.top1_agreement == 1.0 and cell.fidelity.count == 10
    assert 0 < cell.fidelity.mean_abs_error <= cell.fidelity.max_abs_error < 0.5
    same = client.run_cell(
        request(
            float_model, "cpu4", dataset_sha256=data, preset="unit", reference_outputs_sha256=reference.outputs_sha256
        ),
        deadline_s=60,
    )
    assert same.fidelity is not None and same.fidelity.max_abs_error < 1e-5


def test_unavailable_backend_says_why_and_runs_nothing(agent, known_answer):
    client, files, _ = agent
    sha = put(client, files, known_answer.models["float"])
    result = client.run_cell(request(sha, "gpu"), deadline_s=30)
    assert result.status == "unavailable" and "no LiteRT on this device" in result.error
    assert result.latency is None
    classic = replace(
        request(sha, "gpu"), gpu_delegate="libtensorflowlite_gpu_delegate.so"
    )  # the classic delegate route
    result = client.run_cell(classic, deadline_s=30)
    assert result.status == "unavailable" and "GPU delegate" in result.error
    assert result.latency is None


def test_killed_worker_is_a_failed_cell_naming_the_signal_and_the_next_cell_runs(agent, known_answer):
    client, files, _ = agent
    sha = put(client, files, known_answer.models["float"])
    killed = threading.Event()

    def kill_when_measuring(progress):
        if progress.phase == "measure" and progress.worker_pid and not killed.is_set():
            killed.set()
            os.kill(progress.worker_pid, signal.SIGKILL)

    result = client.run_cell(request(sha, latency=LONG, timeout=120), deadline_s=120, on_progress=kill_when_measuring)
    assert killed.is_set()
    assert result.status == "failed"
    assert "SIGKILL" in result.error and result.phase == "measure"
    after = client.run_cell(request(sha), deadline_s=60)
    assert after.status == "ok"


def test_a_hung_worker_is_killed_at_the_cell_timeout(agent, known_answer):
    client, files, _ = agent
    sha = put(client, files, known_answer.models["float"])
    result = client.run_cell(request(sha, latency=LONG, timeout=2), deadline_s=60)
    assert result.status == "failed" and "timed out after 2 s" in result.error


def test_every_call_but_health_needs_the_token(agent, known_answer, tmp_path):
    client, files, _ = agent
    sha = put(client, files, known_answer.models["float"])
    for bad in ("", "0" * 32):
        stranger = AgentClient(client.target, bad)
        with pytest.raises(AgentUnauthenticated):
            stranger.device_info()
        with pytest.raises(AgentUnauthenticated):
            stranger.store_status()
        with pytest.raises(AgentUnauthenticated):
            stranger.stat(sha)
        with pytest.raises(AgentUnauthenticated):
            stranger.run_cell(request(sha), deadline_s=10)
        (tmp_path / "x").write_bytes(b"x")
        with pytest.raises(AgentUnauthenticated):
            stranger.upload(tmp_path / "x")


@pytest.mark.parametrize("name", ["../../etc/passwd", "a" * 63, "A" * 64, "/" + "a" * 63, "a" * 64 + "/x"])
def test_file_names_must_be_sha256_hex(agent, name):
    client, _, _ = agent
    with pytest.raises(AgentRequestError, match="INVALID_ARGUMENT"):
        client.stat(name)
    with pytest.raises(AgentRequestError, match="INVALID_ARGUMENT"):
        client.run_cell(request(name), deadline_s=10)


def test_uploads_over_the_cap_or_with_wrong_bytes_leave_nothing(tmp_path, token):
    server, client = start_agent(tmp_path / "root", token, max_upload_bytes=1000)
    try:
        big = tmp_path / "big"
        big.write_bytes(os.urandom(5000))
        with pytest.raises(UploadRejected, match="RESOURCE_EXHAUSTED"):
            client.upload(big)
        small = tmp_path / "small"
        small.write_bytes(b"hello")
        with pytest.raises(UploadRejected, match="DATA_LOSS"):
            client.upload(small, sha256="0" * 64)
        assert list((tmp_path / "root" / "store").iterdir()) == []
        assert list((tmp_path / "root" / "partial").iterdir()) == []
        assert client.upload(small) is True and client.upload(small) is False
    finally:
        client.close()
        server.stop(0)


def test_a_model_the_interpreter_rejects_is_a_failed_cell_in_phase_load(agent, known_answer):
    client, files, _ = agent
    sha = put(client, files, b"TFL3" + os.urandom(2000))
    result = client.run_cell(request(sha), deadline_s=30)
    assert (result.status, result.phase) == ("failed", "load")
    assert "rejects the model" in result.error
    assert client.run_cell(request(put(client, files, known_answer.models["float"])), deadline_s=30).ok


def test_unknown_backend_and_missing_files_are_rejected(agent, known_answer):
    client, files, _ = agent
    sha = put(client, files, known_answer.models["float"])
    with pytest.raises(AgentRequestError, match="unknown backend"):
        client.run_cell(request(sha, "tpu"), deadline_s=10)
    with pytest.raises(AgentRequestError, match="NOT_FOUND"):
        client.run_cell(request("b" * 64), deadline_s=10)
    with pytest.raises(AgentRequestError, match="NOT_FOUND"):
        client.run_cell(request(sha, dataset_sha256="c" * 64), deadline_s=10)
    with pytest.raises(AgentRequestError, match="unknown preprocessing preset"):
        client.run_cell(request(sha, dataset_sha256=sha, preset="nope"), deadline_s=10)
    with pytest.raises(AgentRequestError, match="start must be one of cold, cold\\+warm, warm"):
        client.run_cell(replace(request(sha), start="lukewarm"), deadline_s=10)


def test_a_cpu_cell_asked_for_a_warm_start_says_the_interpreter_keeps_no_cache(agent, known_answer):
    client, files, _ = agent
    result = client.run_cell(
        replace(request(put(client, files, known_answer.models["float"])), start="cold+warm"), deadline_s=60
    )
    assert result.ok and result.warm_start is not None and result.warm_start.init_ms == 0
    assert "keeps nothing on disk" in result.warm_start.note and not result.warm_start.cache


def _serve(argv: list[str], token: str) -> tuple[subprocess.Popen[str], int]:
    proc = subprocess.Popen(
        [sys.executable, *argv, "--port", "0", "--token-stdin"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    proc.stdin.write(token + "\n")
    proc.stdin.close()
    line = proc.stdout.readline()
    assert line.startswith("LISTENING"), proc.stderr.read() if proc.poll() is not None else line
    return proc, int(line.split()[1])


@pytest.mark.parametrize("as_zipapp", [False, True], ids=["module", "zipapp"])
def test_agent_as_a_subprocess_serves_cells(tmp_path, token, known_answer, as_zipapp):
    from device_agent.zipapp import build_zipapp

    if as_zipapp:
        build_zipapp(tmp_path / "agent.pyz")
        argv = [str(tmp_path / "agent.pyz"), "serve", "--root", str(tmp_path / "root")]
        env_cwd = tmp_path  # the zipapp must not lean on the source tree
    else:
        argv = ["-m", "device_agent", "serve", "--root", str(tmp_path / "root")]
        env_cwd = Path.cwd()
    proc, port = _serve(argv, token) if not as_zipapp else _serve_in(argv, token, env_cwd)
    try:
        client = AgentClient(f"127.0.0.1:{port}", token)
        assert client.health() == "SERVING"
        (tmp_path / "files").mkdir()
        sha = put(client, tmp_path / "files", known_answer.models["float"])
        assert client.run_cell(request(sha), deadline_s=60).status == "ok"
        client.close()
    finally:
        proc.terminate()
        assert proc.wait(timeout=20) == 0


def _serve_in(argv: list[str], token: str, cwd: Path) -> tuple[subprocess.Popen[str], int]:
    """Run with -S and only the dependencies' folder on the path: no .pth file (and so no
    editable install of this project) is processed, so device_agent can come only from the zipapp."""
    import numpy

    site_packages = str(Path(numpy.__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": site_packages, "QUANTBENCH_AGENT_TOKEN": token}
    proc = subprocess.Popen(
        [sys.executable, "-S", *argv, "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=cwd,
        env=env,
    )
    line = proc.stdout.readline()
    assert line.startswith("LISTENING"), proc.stderr.read() if proc.poll() is not None else line
    return proc, int(line.split()[1])


def test_serve_refuses_to_start_without_a_token(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "device_agent", "serve", "--root", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
        env={k: v for k, v in os.environ.items() if k != "QUANTBENCH_AGENT_TOKEN"},
    )
    assert proc.returncode == 2 and "token" in proc.stderr


def _native_library(tmp_path: Path, name: str) -> Path:
    import shutil

    compiler = shutil.which("cc") or shutil.which("gcc")
    if not compiler:
        pytest.skip("no C compiler to build the misbehaving delegate")
    library = tmp_path / f"lib{name}.so"
    source = Path(__file__).parents[1] / "native" / f"{name}.c"
    subprocess.run([compiler, "-shared", "-fPIC", "-o", str(library), str(source)], check=True)
    return library


def test_a_delegate_that_segfaults_fails_its_cell_and_the_agent_stays_up(tmp_path, token, known_answer):
    server, client = start_agent(
        tmp_path / "root", token, gpu_delegate=str(_native_library(tmp_path, "crash_delegate"))
    )
    try:
        (tmp_path / "files").mkdir()
        sha = put(client, tmp_path / "files", known_answer.models["float"])
        assert client.device_info().backend("gpu").available
        crashed = client.run_cell(request(sha, "gpu"), deadline_s=60)
        assert crashed.status == "failed"
        assert "SIGSEGV" in crashed.error and crashed.phase == "delegate"
        assert client.run_cell(request(sha), deadline_s=60).status == "ok"
    finally:
        client.close()
        server.stop(0)


def test_a_library_that_aborts_on_load_costs_only_its_own_cells(tmp_path, token, known_answer):
    """Loading happens in a probe or worker process, never in the agent: the agent answers on."""
    server, client = start_agent(tmp_path / "root", token, gpu_delegate=str(_native_library(tmp_path, "abort_on_load")))
    try:
        (tmp_path / "files").mkdir()
        sha = put(client, tmp_path / "files", known_answer.models["float"])
        gpu = client.device_info().backend("gpu")
        assert gpu is not None and not gpu.available and "crashed the probe process (killed by SIGABRT)" in gpu.reason
        assert client.run_cell(request(sha), deadline_s=60).ok
        crashed = client.run_cell(request(sha, "gpu"), deadline_s=60)
        assert (crashed.status, crashed.phase) == ("failed", "delegate") and "SIGABRT" in crashed.error
        assert client.run_cell(request(sha, "cpu4"), deadline_s=60).ok
        assert client.health() == "SERVING"
    finally:
        client.close()
        server.stop(0)


def test_a_library_that_hangs_on_load_costs_its_backend_within_the_probe_timeout(tmp_path, token, known_answer):
    """The probe gives up on it (LIBRARY_PROBE_S), inside the host's deadline for device info: one
    backend unavailable and said so; a cell that loads it anyway ends at its own timeout; the CPU
    cells and the agent are untouched (round 4, item 1: it once cost every cell of the run)."""
    from device_agent.contract import LIBRARY_PROBE_S

    server, client = start_agent(tmp_path / "root", token, gpu_delegate=str(_native_library(tmp_path, "hang_on_load")))
    try:
        (tmp_path / "files").mkdir()
        sha = put(client, tmp_path / "files", known_answer.models["float"])
        gpu = client.device_info().backend("gpu")
        assert gpu is not None and not gpu.available and f"did not finish within {LIBRARY_PROBE_S:g} s" in gpu.reason, (
            gpu
        )
        assert client.run_cell(request(sha), deadline_s=60).ok
        hung = client.run_cell(replace(request(sha, "gpu"), timeout_seconds=10), deadline_s=60)
        assert hung.status == "failed" and "10" in hung.error, hung
        assert client.run_cell(request(sha), deadline_s=60).ok and client.health() == "SERVING"
    finally:
        client.close()
        server.stop(0)


def test_standard_health_service_check_and_watch_without_a_token(agent):
    import grpc

    from device_agent._protos import health_pb2, health_pb2_grpc

    client, _, _ = agent
    with grpc.insecure_channel(client.target) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        reply = stub.Check(health_pb2.HealthCheckRequest(service="quantbench.agent.v1.Agent"), timeout=5)
        assert reply.status == health_pb2.HealthCheckResponse.SERVING
        first = next(iter(stub.Watch(health_pb2.HealthCheckRequest(service=""), timeout=5)))
        assert first.status == health_pb2.HealthCheckResponse.SERVING
        with pytest.raises(grpc.RpcError) as unknown:
            stub.Check(health_pb2.HealthCheckRequest(service="nope"), timeout=5)
        assert unknown.value.code() == grpc.StatusCode.NOT_FOUND


def test_an_agent_nobody_talks_to_exits_by_itself(tmp_path, token):
    proc = subprocess.Popen(
        [sys.executable, "-m", "device_agent", "serve", "--root", str(tmp_path), "--port", "0", "--idle-exit", "1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "QUANTBENCH_AGENT_TOKEN": token},
    )
    assert proc.stdout.readline().startswith("LISTENING")
    assert proc.wait(timeout=30) == 0
    assert "no call from the host" in proc.stdout.read()


def test_the_agent_listens_on_loopback_only(tmp_path, token):
    """Read the kernel's socket table instead of probing other addresses."""
    proc, port = _serve(["-m", "device_agent", "serve", "--root", str(tmp_path)], token)
    try:
        listening = []
        for table in ("/proc/net/tcp", "/proc/net/tcp6"):
            with open(table) as handle:
                for line in handle.readlines()[1:]:
                    local, state = line.split()[1], line.split()[3]
                    address, hex_port = local.rsplit(":", 1)
                    if int(hex_port, 16) == port and state == "0A":  # 0A: LISTEN
                        listening.append(address)
        assert listening, "the agent's listening socket was not found"
        loopback = {
            "0100007F",
            "00000000000000000000000001000000",
            "0000000000000000FFFF00000100007F",
        }  # 127.0.0.1, ::1, ::ffff:127.0.0.1
        assert set(listening) <= loopback, listening
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def test_no_other_process_can_bind_the_agent_port_too(tmp_path, token):
    """gRPC sets SO_REUSEPORT by default, which lets any same-user process listen on the agent's
    port and take its calls; the agent turns it off."""
    import errno
    import socket

    proc, port = _serve(["-m", "device_agent", "serve", "--root", str(tmp_path)], token)
    try:
        intruder = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        intruder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        with pytest.raises(OSError) as refused:
            intruder.bind(("127.0.0.1", port))
        assert refused.value.errno == errno.EADDRINUSE
        intruder.close()
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def test_cells_still_run_where_the_forkserver_cannot(agent, known_answer, monkeypatch):
    from device_agent.serving import forking

    monkeypatch.setattr(forking, "_forkserver_failed", True)  # as after an OSError starting it
    client, files, _ = agent
    sha = put(client, files, known_answer.models["float"])
    result = client.run_cell(request(sha), deadline_s=120)
    assert result.status == "ok" and result.latency is not None and result.latency.count >= FAST.min_runs


def test_a_worker_of_an_agent_run_from_its_zipapp_starts_with_the_preload_in_memory(tmp_path):
    """Python 3.11's forkserver ignores the agent's sys.path when it imports its preload list: an
    agent run from its zipapp (``-S``, its packages on PYTHONPATH, as Termux's wrapper runs it) got
    workers that imported the agent and the TFLite runtime again, about 190 ms a cell."""
    import numpy

    from device_agent.zipapp import build_zipapp

    zipapp = tmp_path / "agent.pyz"
    build_zipapp(zipapp)
    elsewhere = tmp_path / "elsewhere"  # a working folder without the package in it
    elsewhere.mkdir()
    code = "import sys; sys.path.insert(0, sys.argv[1]); from device_agent.serving import jobs; print(jobs.preloaded())"
    env = {**os.environ, "PYTHONPATH": str(Path(numpy.__file__).parents[1])}
    checked = subprocess.run(
        [sys.executable, "-S", "-c", code, str(zipapp)],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert checked.stdout.strip() == "True", checked.stderr[-2000:]


def test_a_model_too_big_to_allocate_says_what_it_needs(agent, tmp_path):
    """A 32768x32768 convolution needs ~288 GB of tensors: the reason names the size, even where
    the runtime's own message is empty (it is, without XNNPACK)."""
    from host.convert import tfenv

    tf = tfenv.tf()
    k = tfenv.keras()
    inp = k.Input((32768, 32768, 3), batch_size=1)
    model = k.Model(inp, k.layers.GlobalAveragePooling2D()(k.layers.Conv2D(64, 3, padding="same")(inp)))
    with tfenv.silenced():
        data = tf.lite.TFLiteConverter.from_keras_model(model).convert()
    client, files, _ = agent
    result = client.run_cell(request(put(client, files, data)), deadline_s=120)
    assert (result.status, result.phase) == ("failed", "allocate"), result
    assert re.search(r"its tensors take 28\d,\d{3} MB; [\d,]+ MB of memory is available", result.error), result.error


def test_evaluation_in_small_batches_gives_exactly_the_in_memory_result(tmp_path, token, known_answer):
    """The worker reads the dataset in batches; with 3 images per batch instead of all at once the
    accuracy, the fidelity and the saved outputs are the same, byte for byte."""
    import numpy as np

    images = np.concatenate([known_answer.images] * 5)
    labels = np.concatenate([known_answer.labels] * 5)
    results = {}
    for batch in ("3", "64"):
        proc = subprocess.Popen(
            [sys.executable, "-m", "device_agent", "serve", "--root", str(tmp_path / batch), "--port", "0"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "QUANTBENCH_AGENT_TOKEN": token, "QUANTBENCH_EVAL_BATCH": batch},
        )
        port = int(proc.stdout.readline().split()[1])
        client = AgentClient(f"127.0.0.1:{port}", token)
        try:
            (tmp_path / f"files{batch}").mkdir()
            data = put(client, tmp_path / f"files{batch}", dataset_bytes(images, labels))
            reference = client.run_cell(
                request(
                    put(client, tmp_path / f"files{batch}", known_answer.models["float"]),
                    dataset_sha256=data,
                    preset="unit",
                    save_outputs=True,
                ),
                deadline_s=60,
            )
            cell = client.run_cell(
                request(
                    put(client, tmp_path / f"files{batch}", known_answer.models["uint8"]),
                    dataset_sha256=data,
                    preset="unit",
                    reference_outputs_sha256=reference.outputs_sha256,
                ),
                deadline_s=60,
            )
            results[batch] = (
                reference.accuracy,
                reference.outputs_sha256,
                cell.accuracy,
                cell.fidelity,
                cell.evaluated_images,
            )
        finally:
            client.close()
            proc.terminate()
            proc.wait(timeout=20)
    assert results["3"] == results["64"] and results["3"][4] == 50
    assert results["3"][0] == Accuracy(**{**EXPECTED, "count": 50})


def test_the_memory_figures_describe_the_model_not_the_dataset(agent, known_answer):
    """peak_rss is read before the dataset is touched: 20x more images leave it where it was,
    while the evaluation's own peak is reported apart."""
    import numpy as np

    client, files, _ = agent
    model = put(client, files, known_answer.models["float"])
    peaks = []
    for copies in (1, 4000):
        rng = np.random.default_rng(copies)
        images = rng.integers(0, 255, (10 * copies, 4, 4, 3), dtype=np.uint8)
        data = put(client, files, dataset_bytes(images, np.zeros(len(images), dtype=np.int32)))
        result = client.run_cell(request(model, dataset_sha256=data, preset="unit"), deadline_s=120)
        assert result.memory is not None and result.memory.evaluate_peak_rss_mb >= result.memory.peak_rss_mb
        peaks.append(result.memory.peak_rss_mb)
    assert abs(peaks[1] - peaks[0]) < 5.0, peaks


def _dense_model_bytes(units: int) -> bytes:
    """A model whose weights are one 192 x ``units`` float matrix: its size is the parameters'."""
    from host.convert import tfenv

    tf, k = tfenv.tf(), tfenv.keras()
    k.utils.set_random_seed(0)
    inp = k.Input((8, 8, 3), batch_size=1)
    model = k.Model(inp, k.layers.Dense(4)(k.layers.Dense(units)(k.layers.Flatten()(inp))))
    with tfenv.silenced():
        return bytes(tf.lite.TFLiteConverter.from_keras_model(model).convert())


def test_memory_deltas_are_the_models_and_follow_its_parameters(agent):
    """From a baseline taken with the runtime loaded and before the timed model exists: 4x the
    parameters gives about 4x the init delta, and the tiny model's delta is far below the worker's
    absolute RSS (Python, numpy and the runtime are not the model's)."""
    client, files, _ = agent
    deltas, tiny = {}, None
    for units in (0, 12_500, 50_000):  # 0: no hidden layer's weights at all
        data = _dense_model_bytes(units) if units else _dense_model_bytes(1)
        result = client.run_cell(request(put(client, files, data)), deadline_s=120)
        memory = result.memory
        assert result.status == "ok" and memory is not None, result
        assert memory.baseline_rss_mb > 0 and memory.peak_source, memory
        assert memory.peak_rss_mb >= max(memory.init_rss_mb, memory.first_rss_mb, memory.overall_rss_mb)
        if units == 0:
            tiny = memory
        else:
            deltas[units] = memory.delta(memory.init_rss_mb)
    assert tiny is not None and tiny.delta(tiny.init_rss_mb) < 2.0 < tiny.baseline_rss_mb / 5, tiny
    weights_mb = 192 * 50_000 * 4 / 2**20
    assert deltas[50_000] > 0.8 * weights_mb, (deltas, weights_mb)
    assert 3.0 < deltas[50_000] / deltas[12_500] < 5.0, deltas


def test_a_stopped_agent_is_noticed_by_its_silence_not_at_the_cell_deadline(tmp_path, token, known_answer):
    """SIGSTOP the agent mid-cell (issue 22, item 8): the host hears no heartbeat, cancels the cell
    after its silence window and says the agent is stopped or frozen, instead of waiting out the
    cell's whole deadline. A quiet but alive agent keeps the cell: it speaks every HEARTBEAT_S."""
    from device_agent.contract import HEARTBEAT_S
    from host.errors import AgentTimeout

    proc, port = _serve(["-m", "device_agent", "serve", "--root", str(tmp_path / "root")], token)
    client = AgentClient(f"127.0.0.1:{port}", token)
    try:
        (tmp_path / "files").mkdir()
        sha = put(client, tmp_path / "files", known_answer.models["float"])
        client.silence_s = 2 * HEARTBEAT_S
        quiet = LatencyParams(
            warmup_runs=1, warmup_seconds=client.silence_s + HEARTBEAT_S, min_runs=20, min_seconds=0.05, max_seconds=5.0
        )  # a warm-up longer than the silence window: a long phase without progress
        assert client.run_cell(request(sha, latency=quiet, timeout=120), deadline_s=600).status == "ok", (
            "an alive agent in a long quiet phase is not taken for a frozen one"
        )
        stopped = threading.Event()

        def stop_when_measuring(progress):
            if progress.phase == "measure" and not stopped.is_set():
                stopped.set()
                os.kill(proc.pid, signal.SIGSTOP)

        with pytest.raises(AgentTimeout, match="stopped or frozen"):
            client.run_cell(request(sha, latency=LONG, timeout=600), deadline_s=600, on_progress=stop_when_measuring)
        assert stopped.is_set()
    finally:
        client.close()
        os.kill(proc.pid, signal.SIGCONT)
        proc.kill()
        proc.wait(timeout=20)
