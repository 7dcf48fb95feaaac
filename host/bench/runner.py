"""All of one device's cells: its agent session, the fidelity reference, and the restart policy.

Each cell runs in its own ``try`` and is stored before the next starts. A lost agent or device
(the channel drops, ADB fails) is waited for (a device that dropped off is reconnected where
adb can, for a bounded time) and gets a fresh session, up to ``restarts`` times; after that, or
when the device stays away, the remaining cells fail with the reason and the other devices go on.
The fidelity reference's outputs live on the device: a new session that no longer finds them
measures the reference again first.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Protocol

from device_agent.contract import CellRequest, CellResult, EnergyParams, LatencyParams, Progress, PruneResponse
from host.bench.cells import BenchListener, cell_request, failed_record, record
from host.bench.inputs import PreparedInputs
from host.bench.op_layers import profiled_layers
from host.bench.plan import REFERENCE, RunPlan, Unit, cell_order
from host.bench.repeat import CoolDown, measure_repeat
from host.devices.energy.run import EnergyProbe
from host.devices.launch.launchers import AgentOptions
from host.devices.state.conditions import fastest_cores
from host.errors import AgentError, AgentTimeout, AgentUnavailable, DeviceError, HostError, StorageFull
from host.results import CellRecord, Conditions, DeviceRecord, EnergyRecord, RepeatRecord, RunRecord, RunStats


class Session(Protocol):
    """What a runner needs from an agent session (``host.devices.agent.session.AgentSession``)."""

    def ensure(self, path: Path, sha256: str) -> bool: ...
    def has_file(self, sha256: str) -> bool: ...
    def prune_store(self, max_bytes: int, keep: tuple[str, ...]) -> PruneResponse: ...
    def store_free_bytes(self) -> int: ...
    def device_record(self) -> DeviceRecord: ...
    def conditions(self) -> Conditions: ...
    def wait_cool(self, below_c: float, bound_s: float, say: Callable[[str], None]) -> tuple[Conditions, float]: ...
    def set_fixed_performance(self, enabled: bool) -> bool: ...
    def run_cell(self, request: CellRequest, on_progress: Callable[[Progress], None] | None = None) -> CellResult: ...
    def energy_probe(self, minimum_s: float) -> EnergyProbe: ...
    def run_energy_cell(
        self, request: CellRequest, found: EnergyProbe, on_progress: Callable[[Progress], None] | None = None
    ) -> tuple[CellResult, EnergyRecord]: ...
    def close(self) -> None: ...


class RunSink(Protocol):
    """Where finished cells go, at once (the results store)."""

    def add_device(self, device: DeviceRecord) -> None: ...
    def save(self, cell: CellRecord) -> None: ...
    def save_repeat(self, key: tuple[str, str, str], repeat: RepeatRecord) -> None: ...
    def save_energy(self, key: tuple[str, str, str], energy: EnergyRecord) -> None: ...


@dataclass(frozen=True)
class RunnerParts:
    """What a device runner is given, fixed for its life: the device, how to reach it, where
    results go, and the callbacks around it."""

    identity: str  # the device's own serial number: resumed runs find its cells under it
    open_session: Callable[[], Session]
    inputs: PreparedInputs
    sink: RunSink
    listener: BenchListener
    hold: Callable[[], AbstractContextManager[None]] = nullcontext  # the device, for this bench alone
    restarts: int = 1
    more: Callable[[], list[Unit]] = list  # asked when the units run out: further ones, on the same session (compare)
    stored: Callable[[], RunRecord] | None = None  # a resumed run as stored now: read again once the device is held
    reconnect: Callable[[], bool] = lambda: True  # after a loss: wait for the device to be back (False: it stayed away)


@dataclass
class RunnerState:
    """What changes while a runner runs: the plan (a resume reads it again), the session's
    reference outputs, pinning and fingerprint, and what each cell did."""

    plan: RunPlan
    reference: str = ""  # sha256 of the reference outputs on the device
    stats: RunStats = RunStats()
    cpu_mask: int = 0
    fixed: bool = False  # fixed-performance mode turned on by this runner (and to turn off)
    fingerprint: str = ""  # the id of the device's fingerprint in this session, stored with each cell
    positions: dict[Unit, int] = field(default_factory=dict)
    measured: dict[tuple[str, str], bool] = field(default_factory=dict)  # cell -> whether its repeat 0 timed


class DeviceRunner:
    """One device's units of a run, session by session, each cell stored as it finishes."""

    def __init__(self, parts: RunnerParts, plan: RunPlan) -> None:
        self.parts, self.state = parts, RunnerState(plan)

    @property
    def plan(self) -> RunPlan:
        return self.state.plan

    def order(self) -> list[tuple[str, str]]:
        return cell_order(self.parts.inputs.stored_modes(), self.plan.config.measurement.backend_names)

    def run(self) -> RunStats:
        """Measure what is left; a resumed run reads what is stored again once it holds the device,
        since another resume of the same run may have held it first and measured those cells."""
        todo = self.plan.todo(self.parts.identity, self.order())
        if todo:
            with self.parts.hold():
                if self.parts.stored is not None:
                    self.state.plan = self.plan.with_done(self.parts.stored())
                    todo = self.plan.todo(self.parts.identity, self.order())
                if todo:
                    self._run(todo)
        return self.state.stats

    def _run(self, todo: list[Unit]) -> None:
        self.state.reference = self.plan.stored_reference(self.parts.identity)
        self.state.positions = {u: i for i, u in enumerate(self.plan.units(self.order()))}
        restarts_left = self.parts.restarts
        while todo:
            try:
                session = self.parts.open_session()
            except HostError as e:
                self._fail_all(todo, f"agent could not start: {e}")
                break
            try:
                self._run_session(session, todo)
            except StorageFull as e:
                self._fail_all(todo, str(e))
            except (DeviceError, AgentError) as e:
                if restarts_left == 0:
                    self._fail_all(todo, f"device or agent lost: {e}")
                    break
                restarts_left -= 1
                self.state.stats = replace(self.state.stats, agent_restarts=self.state.stats.agent_restarts + 1)
                self.parts.listener.stage(f"{self.parts.identity}: agent lost ({e}); restarting it")
                if not self.parts.reconnect():
                    self._fail_all(todo, f"device or agent lost: {e} (the device did not come back in time)")
                    break
            finally:
                session.close()

    def _prepare(self, session: Session) -> None:
        """Push what the device lacks, bound its store, pin and steady its CPUs, record it."""
        config = self.plan.config
        self.parts.listener.stage(
            f"{self.parts.identity}: pushing models and dataset (files already there are skipped)"
        )
        files = self.parts.inputs.files()
        self._check_space(session, [(path, sha) for path, sha in files if not session.has_file(sha)])
        for path, sha in files:
            if session.ensure(path, sha):
                self.state.stats = replace(
                    self.state.stats,
                    pushed_files=self.state.stats.pushed_files + 1,
                    pushed_bytes=self.state.stats.pushed_bytes + path.stat().st_size,
                )
        self.state.stats = replace(self.state.stats, files=len(files))
        pruned = session.prune_store(config.caches.device_store_max_mb * 1_000_000, tuple(sha for _, sha in files))
        if pruned.removed_files:
            self.parts.listener.stage(
                f"{self.parts.identity}: removed {pruned.removed_files} least recently used files "
                f"({pruned.removed_bytes / 1e6:.1f} MB) from the device's store"
            )
        self.state.cpu_mask = config.measurement.mask(fastest_cores(session.conditions()))
        fixed = config.measurement.fixed_performance and session.set_fixed_performance(True)
        device = replace(session.device_record(), cpu_mask=self.state.cpu_mask, fixed_performance=fixed)
        self.state.fingerprint = device.fingerprint.id if device.fingerprint else ""
        self.parts.sink.add_device(device)
        self.state.fixed = fixed

    def _run_session(self, session: Session, todo: list[Unit]) -> None:
        """Run units from the front of ``todo`` until done or lost; fixed-performance mode is
        restored however this ends (Ctrl-C too)."""
        self.state.fixed = False
        try:
            self._prepare(session)
            if self.state.reference and not session.has_file(self.state.reference):
                self.state.reference = ""  # its outputs are gone from the device: measure the reference again
                missing = [
                    u
                    for u in self.plan.units(self.order())
                    if u.cell == REFERENCE and u.kind == "repeat" and u not in todo
                ]
                todo[:0] = missing
            while todo:
                self.run_unit(session, todo[0])
                todo.pop(0)
                if not todo:
                    todo.extend(self.parts.more())
        finally:
            if self.state.fixed:
                session.set_fixed_performance(False)

    def _check_space(self, session: Session, missing: list[tuple[Path, str]]) -> None:
        """Refuse, with the figures, to push what does not fit: each file is staged in the shell's
        folder and copied into the agent's store, so one file's size more is needed meanwhile."""
        sizes = [path.stat().st_size for path, _ in missing]
        need = sum(sizes) + max(sizes, default=0)
        free = session.store_free_bytes()
        if need and free and need > free:
            raise StorageFull(
                f"{self.parts.identity}: not enough room on the device: this run needs {need / 1e6:,.0f} MB "
                f"(models and the evaluation images), {free / 1e6:,.0f} MB are free; free some space, use "
                "--limit, or 'host cache prune --device ...'"
            )

    def run_unit(self, session: Session, unit: Unit) -> None:
        """One repeat (repeat 0 is the cell itself: evaluated, stored as the cell); a later repeat of
        a cell that did not time anything is skipped."""
        if unit.repeat == 0 and unit.kind == "repeat":
            self.run_cell(session, unit)
            return
        if not self.state.measured.get(unit.cell, self._kept_ok(unit.cell)):
            return
        if unit.kind == "energy":
            self.run_energy(session, unit)
            return
        latency = self._latency(unit)
        request = self._request(unit.mode, unit.backend, "")
        request = replace(
            request,
            evaluation=None,
            latency=latency,
            op_profile=False,
            start="warm",
            timeout_seconds=request.timeout_seconds + latency.max_seconds + latency.warmup_seconds,
        )
        result, repeat = self._measure(session, request, unit)
        if repeat is not None:
            self.parts.sink.save_repeat((self.parts.identity, *unit.cell), repeat)
            self.parts.listener.repeat_done((self.parts.identity, *unit.cell), repeat)
        elif not result.ok:
            self.parts.listener.stage(
                f"{self.parts.identity}: {unit.mode}/{unit.backend} repeat {unit.repeat} failed: {result.error}"
            )

    def run_energy(self, session: Session, unit: Unit) -> None:
        """The cell's energy loops, alone, with the meter sampled around them; stored at once."""
        key = (self.parts.identity, *unit.cell)
        schedule = self.plan.config.schedule
        found = session.energy_probe(schedule.energy_seconds)
        if found.source.kind is None:
            record = EnergyRecord(label=found.source.label, note=found.source.reason)
        else:
            params = EnergyParams(found.loop_s, schedule.energy_repeats)
            request = self._request(unit.mode, unit.backend, "")
            request = replace(
                request,
                evaluation=None,
                op_profile=False,
                start="warm",
                energy=params,
                timeout_seconds=request.timeout_seconds + 2 * params.repeats * params.loop_seconds,
            )
            self.parts.listener.stage(
                f"{self.parts.identity}: {unit.mode}/{unit.backend} energy: {params.repeats} x "
                f"({params.loop_seconds:g} s idle, {params.loop_seconds:g} s loop) on {found.source.label}"
            )
            _, record = session.run_energy_cell(
                request, found, lambda p: self.parts.listener.cell_progress(key, p.phase, p.fraction, p.message)
            )
        self.parts.sink.save_energy(key, record)
        self.parts.listener.energy_done(key, record)

    def _request(self, mode: str, backend: str, reference: str) -> CellRequest:
        config = self.plan.config
        delegates = AgentOptions(config.devices.gpu_delegate, config.devices.nnapi_delegate)
        return cell_request(
            config.measurement, delegates, self.parts.inputs, mode, backend, reference, self.state.cpu_mask
        )

    def _kept_ok(self, cell: tuple[str, str]) -> bool:
        kept = self.plan.done.get((self.parts.identity, *cell))
        return kept is not None and kept.ok

    def _latency(self, unit: Unit) -> LatencyParams:
        params = self.plan.config.measurement.latency_params()
        if unit.kind == "sustained":  # one long run, read in windows afterwards
            seconds = self.plan.config.schedule.sustained * 60.0
            return replace(params, min_runs=1, min_seconds=seconds, max_seconds=seconds)
        return params

    def _measure(self, session: Session, request: CellRequest, unit: Unit) -> tuple[CellResult, RepeatRecord | None]:
        key = (self.parts.identity, unit.mode, unit.backend)
        schedule = self.plan.config.schedule
        cool = CoolDown(schedule.cool_below, schedule.cooldown)
        position = self.state.positions.setdefault(unit, len(self.state.positions))
        result, repeat = measure_repeat(
            session,
            request,
            unit,
            position,
            cool,
            self.parts.listener.stage,
            lambda p: self.parts.listener.cell_progress(key, p.phase, p.fraction, p.message),
        )
        self.state.stats = replace(self.state.stats, cells_run=self.state.stats.cells_run + 1)
        return result, repeat

    def run_cell(self, session: Session, unit: Unit) -> CellRecord:
        """One cell (its repeat 0), whatever happens to it; only a lost agent or device escapes."""
        mode, backend = unit.cell
        self.parts.listener.cell_started((self.parts.identity, mode, backend))
        model = self.parts.inputs.models.get(mode)
        repeat: RepeatRecord | None = None
        if model is None:
            cell = failed_record(
                self.parts.identity, mode, backend, "convert", self.parts.inputs.failed_modes.get(mode, "no model")
            )
        else:
            request = self._request(mode, backend, self.state.reference)
            try:
                result, repeat = self._measure(session, request, unit)
            except (AgentUnavailable, AgentTimeout):
                raise
            except AgentError as e:
                result = failed_record(self.parts.identity, mode, backend, "start", str(e)).result
            cell = replace(
                record(self.parts.identity, mode, backend, result, model.size_bytes),
                outcomes=self.parts.inputs.outcomes(result.predictions),
                fingerprint=self.state.fingerprint,
                task=self.parts.inputs.task_metrics(result),
                op_layers=profiled_layers(result, model.path),
            )
            if (mode, backend) == REFERENCE and cell.ok:
                self.state.reference = result.outputs_sha256
        self.state.measured[unit.cell] = cell.ok
        self.parts.sink.save(cell)
        if repeat is not None:
            self.parts.sink.save_repeat(cell.key, repeat)
        self.parts.listener.cell_done(cell)
        return cell

    def _fail_all(self, todo: list[Unit], reason: str) -> None:
        for unit in todo:
            if unit.repeat != 0 or unit.kind != "repeat":
                continue
            model = self.parts.inputs.models.get(unit.mode)
            cell = failed_record(
                self.parts.identity, unit.mode, unit.backend, "start", reason, model.size_bytes if model else None
            )
            self.parts.sink.save(cell)
            self.parts.listener.cell_done(cell)
        todo.clear()
