"""``host bench`` and ``--resume`` as library calls.

Data flow (design.md): validate; convert every mode (cache); open the device (the one named,
the only one attached, or an emulated one started for this run); deploy the agent; push models
and the dataset into its store (skipping what is there); run the cells, storing each at once;
finish the run. ``--resume RUN_ID`` redoes only cells that are missing or failed.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path

from host import __version__
from host.bench.config import BenchConfig
from host.bench.inputs import PreparedInputs, prepare_inputs
from host.bench.matrix import BenchListener, MatrixRun, SessionLost, cell_order, now
from host.devices.adb import parse_server
from host.devices.deploy import STORE, AgentSession, start_agent
from host.devices.device import Device, list_devices, resolve_serial
from host.errors import AgentError, BenchInterrupted, DeviceError, HostError, InputError
from host.results import CellRecord, DeviceRecord, RunRecord
from host.store import ResultsStore


@contextmanager
def bench_devices(config: BenchConfig, on_stage: Callable[[str], None] = lambda text: None) -> Iterator[list[Device]]:
    """The named devices, else the only real device attached, else a running or new emulator."""
    from host.emulator import manager

    address = parse_server(config.adb_server)
    if config.device_serials():
        yield [Device(address, resolve_serial(address, serial) or serial) for serial in config.device_serials()]
        return
    emulated = {s.serial for s in manager.running()}
    ready = [e.serial for e in list_devices(address) if e.state == "device"]
    real = [s for s in ready if s not in emulated]
    if len(real) > 1:
        raise InputError(f"{len(real)} devices attached ({', '.join(real)}): choose one with --device")
    if real:
        yield [Device(address, real[0])]
        return
    reusable = [s for s in ready if s in emulated]
    if reusable:
        yield [Device(address, reusable[0])]
        return
    on_stage("starting the emulated device")
    state = manager.start(address)
    try:
        yield [Device(address, state.serial)]
    finally:
        manager.stop_state(address, state)


def push_inputs(session: AgentSession, inputs: PreparedInputs) -> dict[str, int]:
    """Put models and the dataset into the agent's store over ADB, skipping what is there."""
    files = [(m.path, m.sha256) for m in inputs.models.values()]
    if inputs.dataset_file is not None:
        files.append((inputs.dataset_file, str(inputs.dataset["sha256"])))
    pushed = pushed_bytes = 0
    for path, sha in files:
        local_size = path.stat().st_size
        exists, stored_size = session.client.stat(sha)
        if exists and stored_size == local_size:
            continue
        session.device.push_unchecked(path, f"{STORE}/{sha}")
        pushed += 1
        pushed_bytes += local_size
    return {"pushed_files": pushed, "pushed_bytes": pushed_bytes, "files": len(files)}


def _device_record(session: AgentSession) -> DeviceRecord:
    info = session.client.device_info()
    props = session.device.props()
    return DeviceRecord(
        serial=session.device.identity, model=info.model or props.model, abi=info.abi, sdk=info.sdk or props.sdk,
        runtime=info.runtime, runtime_version=info.runtime_version, cores=info.cores, emulated=props.emulated,
        soc=info.soc or props.soc, adb_serial=session.device.serial,
    )


def new_run_id() -> str:
    return datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(3)


def run_bench(config: BenchConfig, db_path: Path, listener: BenchListener, resume: str | None = None) -> RunRecord:
    store = ResultsStore(db_path)
    try:
        previous = None
        if resume:
            previous = store.load_run(resume)
            config = replace(BenchConfig.from_json(previous.config), device=config.device or previous.config.get("device"),
                             adb_server=config.adb_server or previous.config.get("adb_server"))
        config.validate()
        inputs = prepare_inputs(config, listener.stage)
        if previous is not None and previous.model.get("sha256") != inputs.model["sha256"]:
            raise InputError(f"the model changed since run {previous.run_id}; start a new run instead of resuming")
        if previous is not None and previous.dataset.get("sha256") != inputs.dataset.get("sha256"):
            raise InputError(f"the dataset changed since run {previous.run_id}; start a new run instead of resuming")
        run_id = previous.run_id if previous else new_run_id()
        stored_config = {**config.to_json(), "modes": stored_modes(inputs)}
        if previous is None:
            store.create_run(RunRecord(run_id, now(), __version__, inputs.model, inputs.dataset, stored_config, notes=tuple(inputs.notes)))
        done = {c.key: c for c in (previous.cells if previous else ()) if c.status in ("ok", "unavailable")}
        results = inputs.conversion.results if inputs.conversion else ()
        stats = {"converted": sum(1 for r in results if r.ok and not r.cached), "conversion_cache_hits": sum(1 for r in results if r.cached)}
        try:
            per_device = _run_devices(store, run_id, config, inputs, done, listener)
        except KeyboardInterrupt:
            raise BenchInterrupted(
                f"interrupted; finished cells of run {run_id} are stored in {db_path}: "
                f"finish it with 'host bench --resume {run_id}'"
            ) from None
        for device_stats in per_device:
            for key, value in device_stats.items():
                stats[key] = stats.get(key, 0) + value
        store.finish_run(run_id, now(), inputs.notes, stats)
        return store.load_run(run_id)
    finally:
        store.close()


def _run_devices(store: ResultsStore, run_id: str, config: BenchConfig, inputs: PreparedInputs,
                 done: dict[tuple[str, str, str], CellRecord], listener: BenchListener) -> list[dict[str, int]]:
    """Every device's cells; several devices run at the same time (a farm)."""
    with bench_devices(config, listener.stage) as devices:
        order = cell_order(stored_modes(inputs), config.backend_names())
        listener.matrix(len(order) * len(devices), sum(1 for d in devices for m, b in order if (_identity(d), m, b) in done))
        if len(devices) == 1:
            return [_run_on_device(store, run_id, config, inputs, devices[0], done, listener)]
        with ThreadPoolExecutor(max_workers=len(devices), thread_name_prefix="device") as pool:
            futures = [pool.submit(_run_on_device, store, run_id, config, inputs, d, done, listener) for d in devices]
            return [f.result() for f in futures]


def _identity(device: Device) -> str:
    """Cells are keyed by the device's own serial number, so a resumed run finds them again even
    when the adb serial changed; a device that cannot say is keyed by its adb serial."""
    try:
        return device.identity
    except HostError:
        return device.serial


def _run_on_device(store: ResultsStore, run_id: str, config: BenchConfig, inputs: PreparedInputs, device: Device,
                   done: dict[tuple[str, str, str], CellRecord], listener: BenchListener) -> dict[str, int]:
    """All of one device's cells; a lost agent or device gets one fresh session, then the rest fail."""
    order = cell_order(stored_modes(inputs), config.backend_names())
    key = _identity(device)
    todo = [(m, b) for m, b in order if (key, m, b) not in done]
    stats: dict[str, int] = {"cells_run": 0, "agent_restarts": 0, "pushed_files": 0, "pushed_bytes": 0, "files": 0}
    stored_reference = done.get((key, "none", "cpu1"))
    progress = _DeviceProgress(stored_reference.outputs_sha256 if stored_reference else "")
    restarts_left = 1
    while todo:
        listener.stage(f"deploying the agent to {device.serial}")
        try:
            session = start_agent(device, device_python=config.device_python, gpu_delegate=config.gpu_delegate,
                                  nnapi_delegate=config.nnapi_delegate)
        except HostError as e:
            _fail_remaining(store, run_id, key, todo, f"agent could not start: {e}", listener)
            break
        try:
            with session:
                _run_session(session, store, run_id, config, inputs, todo, progress, stats, listener)
        except (SessionLost, DeviceError, AgentError) as e:
            if restarts_left == 0:
                _fail_remaining(store, run_id, key, todo, f"device or agent lost: {e}", listener)
                break
            restarts_left -= 1
            stats["agent_restarts"] += 1
            listener.stage(f"agent lost ({e}); restarting it")
    return stats


@dataclass
class _DeviceProgress:
    """What must outlive one agent session: the fidelity reference's outputs on the device."""

    reference: str = ""


def _run_session(session: AgentSession, store: ResultsStore, run_id: str, config: BenchConfig, inputs: PreparedInputs,
                 todo: list[tuple[str, str]], progress: _DeviceProgress, stats: dict[str, int], listener: BenchListener) -> None:
    """Push what the device lacks, then run cells from the front of ``todo`` until done or lost."""
    serial = session.device.identity
    store.add_device(run_id, _device_record(session))
    listener.stage("pushing models and dataset")
    for key, value in push_inputs(session, inputs).items():
        stats[key] = max(stats[key], value) if key == "files" else stats[key] + value
    matrix = MatrixRun(session, serial, inputs, config, lambda cell: store.save_cell(run_id, cell), listener)
    if progress.reference and session.client.stat(progress.reference)[0]:
        matrix.reference_outputs = progress.reference
    elif progress.reference and ("none", "cpu1") not in todo:
        todo.insert(0, ("none", "cpu1"))  # its outputs are gone from the device: measure it again
    while todo:
        mode, backend = todo[0]
        matrix.run_cell(mode, backend)
        progress.reference = matrix.reference_outputs
        todo.pop(0)
        stats["cells_run"] += 1


def stored_modes(inputs: PreparedInputs) -> list[str]:
    """Modes in the table's order; names the table does not know (given files) after, as given."""
    from host.convert.modes import MODES

    wanted = list(dict.fromkeys([*inputs.modes, *inputs.failed_modes]))
    known = [m.name for m in MODES if m.name in wanted]
    return known + [m for m in wanted if m not in known]


def _fail_remaining(store: ResultsStore, run_id: str, serial: str, todo: list[tuple[str, str]], reason: str, listener: BenchListener) -> None:
    for mode, backend in todo:
        cell = CellRecord(serial, mode, backend, "failed", reason, "start", finished=now())
        store.save_cell(run_id, cell)
        listener.cell_done(cell)
    todo.clear()
