"""``host bench`` and ``--resume`` as one library call.

Data flow (design.md): validate; convert every mode (cache); choose the devices (the named
ones, the only one attached, or an emulated one started for this run); run each device's cells
(several devices at once, a farm); store each cell as it finishes; finish the run. The run's row
is written only when its first cell is stored, so a bench that never reached a device leaves
no empty run behind to be mistaken for ``latest``.
"""

from __future__ import annotations

import shlex
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import reduce
from pathlib import Path

from host import __version__
from host.bench.cells import BenchListener
from host.bench.config import BenchConfig
from host.bench.inputs import PreparedInputs, prepare_inputs
from host.bench.plan import RunPlan, new_plan, now, resume_plan
from host.bench.runner import DeviceRunner
from host.bench.targets import bench_devices, identity
from host.cache import prune_host
from host.devices.agent.session import AgentSession, AgentSettings, find_launcher, open_session
from host.devices.launch.launchers import AgentOptions, Launcher
from host.devices.selection.lock import device_lock
from host.devices.selection.reconnect import wait_for_device
from host.devices.transport.device import Device
from host.errors import BenchInterrupted, DeployError, HostError, InputError
from host.results import CellRecord, DeviceRecord, RepeatRecord, RunRecord, RunStats
from host.store import ResultsStore, StoreLocation

RESTARTS = 3  # fresh agent sessions a device gets after losses (each after waiting for the device)


class StoreSink:
    """Writes cells and devices to the store; creates the run's row before the first of them."""

    def __init__(self, store: ResultsStore, plan: RunPlan, inputs: PreparedInputs) -> None:
        self.store = store
        self.plan = plan
        self.inputs = inputs
        self.created = plan.previous is not None
        self._lock = threading.Lock()

    def ensure_run(self) -> None:
        with self._lock:
            if self.created:
                return
            i = self.inputs
            self.store.create_run(RunRecord(
                self.plan.run_id, now(precise=True), __version__, i.model, i.dataset, tuple(i.stored_modes()),
                tuple(self.plan.config.backend_names), self.plan.config.to_stored(i.stored_modes()), notes=tuple(i.notes),
            ))
            self.created = True

    def add_device(self, device: DeviceRecord) -> None:
        self.ensure_run()
        self.store.add_device(self.plan.run_id, device)

    def save(self, cell: CellRecord) -> None:
        self.ensure_run()
        self.store.save_cell(self.plan.run_id, cell)

    def save_repeat(self, key: tuple[str, str, str], repeat: RepeatRecord) -> None:
        self.store.save_repeat(self.plan.run_id, key, repeat)


def resume_command(run_id: str, location: StoreLocation | Path) -> str:
    """The exact command that finishes the run (with --db when it is not the default; a
    PostgreSQL URL without its password, which the environment supplies again)."""
    location = location if isinstance(location, StoreLocation) else StoreLocation(path=location)
    db = "" if location.is_default() else f" --db {shlex.quote(location.describe().replace(':***@', '@'))}"
    return f"host bench --resume {run_id}{db}"


def conversion_stats(inputs: PreparedInputs) -> RunStats:
    results = inputs.conversion.results if inputs.conversion else ()
    return RunStats(converted=sum(1 for r in results if r.ok and not r.cached), conversion_cache_hits=sum(1 for r in results if r.cached))


def run_bench(config: BenchConfig, db_path: StoreLocation | Path, listener: BenchListener, resume: str | None = None) -> RunRecord:
    store = ResultsStore(db_path)
    try:
        plan = resume_plan(store.load_run(resume), config) if resume else new_plan(config)
        plan.config.validate()
        with bench_devices(plan.config, listener.stage) as devices:
            targets = find_targets(devices, agent_settings(plan.config))  # before any conversion
            inputs = prepare_inputs(plan.config, listener)
            plan.check_inputs(inputs)
            sink = StoreSink(store, plan, inputs)
            try:
                stats = conversion_stats(inputs).plus(measure(plan, inputs, sink, listener, targets))
            except KeyboardInterrupt:
                raise BenchInterrupted(f"interrupted; finished cells of run {plan.run_id} are stored in {store.where}: finish it "
                                       f"with '{resume_command(plan.run_id, db_path)}'" if sink.created else
                                       "interrupted before any cell finished; nothing was stored") from None
        sink.ensure_run()
        store.finish_run(plan.run_id, now(), inputs.notes, stats)
        pruned = prune_host(plan.config.cache_max_mb, plan.config.cache_max_days)
        if pruned.removed_entries:
            listener.stage(pruned.describe("caches on this machine"))
        return store.load_run(plan.run_id)
    finally:
        store.close()


def agent_settings(config: BenchConfig) -> AgentSettings:
    return AgentSettings(config.device_python, AgentOptions(config.gpu_delegate, config.nnapi_delegate), config.attach)


@dataclass(frozen=True)
class Target:
    """A device to bench, and how to start the agent on it (or why it cannot be)."""

    device: Device
    identity: str
    launcher: Launcher | None
    problem: HostError | None = None


def find_targets(devices: list[Device], settings: AgentSettings) -> list[Target]:
    """Each device with the launcher that works on it. When none can run the agent the bench
    stops here, before any conversion; a farm goes on with the devices that can."""
    targets = []
    for device in devices:
        try:
            targets.append(Target(device, identity(device), find_launcher(device, settings)))
        except HostError as e:
            if len(devices) == 1 or isinstance(e, InputError):
                raise
            targets.append(Target(device, identity(device), None, e))
    if all(t.problem for t in targets):
        raise targets[0].problem or DeployError("no device can run the agent")
    return targets


def measure(plan: RunPlan, inputs: PreparedInputs, sink: StoreSink, listener: BenchListener, targets: list[Target]) -> RunStats:
    """Every device's cells; several devices run at the same time (a farm)."""
    config = plan.config
    settings = agent_settings(config)

    def runner(target: Target) -> DeviceRunner:
        def open_agent() -> AgentSession:
            if target.problem is not None:
                raise target.problem
            listener.stage(f"deploying the agent to {target.device.serial}")
            return open_session(target.device, settings, target.launcher)

        return DeviceRunner(target.identity, open_agent, plan, inputs, sink, listener,
                            hold=lambda: device_lock(target.identity, wait=config.wait, on_wait=listener.stage),
                            restarts=RESTARTS, reconnect=lambda: wait_for_device(target.device, config.reconnect_wait, listener.stage))

    runners = [runner(t) for t in targets]
    total = sum(len(plan.units(r.order())) for r in runners)
    listener.matrix(total, total - sum(len(plan.todo(r.identity, r.order())) for r in runners))
    if len(runners) == 1:
        return runners[0].run()
    with ThreadPoolExecutor(max_workers=len(runners), thread_name_prefix="device") as pool:
        futures = [pool.submit(r.run) for r in runners]
        return reduce(RunStats.plus, (f.result() for f in futures), RunStats())
