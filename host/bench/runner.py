"""All of one device's cells: its agent session, the fidelity reference, and the restart policy.

Each cell runs in its own ``try`` and is stored before the next starts. A lost agent or device
(the channel drops, ADB fails) gets one fresh session; when that one is lost too, the remaining
cells fail with the reason and the other devices go on. The fidelity reference's outputs live on
the device: a new session that no longer finds them measures the reference again first.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol

from device_agent.contract import CellRequest, CellResult, Progress, PruneResponse
from host.bench.cells import BenchListener, cell_request, failed_record, record
from host.bench.inputs import PreparedInputs
from host.bench.plan import REFERENCE, RunPlan, cell_order
from host.errors import AgentError, AgentTimeout, AgentUnavailable, DeviceError, HostError, StorageFull
from host.results import CellRecord, DeviceRecord, RunStats


class Session(Protocol):
    """What a runner needs from an agent session (``host.devices.session.AgentSession``)."""

    def ensure(self, path: Path, sha256: str) -> bool: ...
    def has_file(self, sha256: str) -> bool: ...
    def prune_store(self, max_bytes: int, keep: tuple[str, ...]) -> PruneResponse: ...
    def store_free_bytes(self) -> int: ...
    def device_record(self) -> DeviceRecord: ...
    def run_cell(self, request: CellRequest, on_progress: Callable[[Progress], None] | None = None) -> CellResult: ...
    def close(self) -> None: ...


class RunSink(Protocol):
    """Where finished cells go, at once (the results store)."""

    def add_device(self, device: DeviceRecord) -> None: ...
    def save(self, cell: CellRecord) -> None: ...


@dataclass
class DeviceRunner:
    identity: str  # the device's own serial number: resumed runs find its cells under it
    open_session: Callable[[], Session]
    plan: RunPlan
    inputs: PreparedInputs
    sink: RunSink
    listener: BenchListener
    hold: Callable[[], AbstractContextManager[None]] = nullcontext  # the device, for this bench alone
    restarts: int = 1
    reference: str = ""  # sha256 of the reference outputs on the device
    stats: RunStats = RunStats()

    def order(self) -> list[tuple[str, str]]:
        return cell_order(self.inputs.stored_modes(), self.plan.config.backend_names)

    def run(self) -> RunStats:
        todo = self.plan.todo(self.identity, self.order())
        if todo:
            with self.hold():
                self._run(todo)
        return self.stats

    def _run(self, todo: list[tuple[str, str]]) -> None:
        self.reference = self.plan.stored_reference(self.identity)
        restarts_left = self.restarts
        while todo:
            try:
                session = self.open_session()
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
                self.stats = replace(self.stats, agent_restarts=self.stats.agent_restarts + 1)
                self.listener.stage(f"{self.identity}: agent lost ({e}); restarting it")
            finally:
                session.close()

    def _run_session(self, session: Session, todo: list[tuple[str, str]]) -> None:
        """Push what the device lacks, then run cells from the front of ``todo`` until done or lost."""
        self.sink.add_device(session.device_record())
        self.listener.stage(f"{self.identity}: pushing models and dataset (files already there are skipped)")
        files = self.inputs.files()
        self._check_space(session, [(path, sha) for path, sha in files if not session.has_file(sha)])
        for path, sha in files:
            if session.ensure(path, sha):
                self.stats = replace(self.stats, pushed_files=self.stats.pushed_files + 1,
                                     pushed_bytes=self.stats.pushed_bytes + path.stat().st_size)
        self.stats = replace(self.stats, files=len(files))
        pruned = session.prune_store(self.plan.config.device_store_max_mb * 1_000_000, tuple(sha for _, sha in files))
        if pruned.removed_files:
            self.listener.stage(f"{self.identity}: removed {pruned.removed_files} least recently used files "
                                f"({pruned.removed_bytes / 1e6:.1f} MB) from the device's store")
        if self.reference and not session.has_file(self.reference):
            self.reference = ""
            if REFERENCE not in todo:
                todo.insert(0, REFERENCE)  # its outputs are gone from the device: measure it again
        while todo:
            self.run_cell(session, *todo[0])
            todo.pop(0)
            self.stats = replace(self.stats, cells_run=self.stats.cells_run + 1)

    def _check_space(self, session: Session, missing: list[tuple[Path, str]]) -> None:
        """Refuse, with the figures, to push what does not fit: each file is staged in the shell's
        folder and copied into the agent's store, so one file's size more is needed meanwhile."""
        sizes = [path.stat().st_size for path, _ in missing]
        need = sum(sizes) + max(sizes, default=0)
        free = session.store_free_bytes()
        if need and free and need > free:
            raise StorageFull(f"{self.identity}: not enough room on the device: this run needs {need / 1e6:,.0f} MB "
                              f"(models and the evaluation images), {free / 1e6:,.0f} MB are free; free some space, use "
                              "--limit, or 'host cache prune --device ...'")

    def run_cell(self, session: Session, mode: str, backend: str) -> CellRecord:
        """One cell, whatever happens to it; only a lost agent or device escapes (to restart)."""
        key = (self.identity, mode, backend)
        self.listener.cell_started(key)
        model = self.inputs.models.get(mode)
        if model is None:
            cell = failed_record(self.identity, mode, backend, "convert", self.inputs.failed_modes.get(mode, "no model"))
        else:
            request = cell_request(self.plan.config, self.inputs, mode, backend, self.reference)
            try:
                result = session.run_cell(request, lambda p: self.listener.cell_progress(key, p.phase, p.fraction, p.message))
            except (AgentUnavailable, AgentTimeout):
                raise
            except AgentError as e:
                result = failed_record(self.identity, mode, backend, "start", str(e)).result
            cell = record(self.identity, mode, backend, result, model.size_bytes)
            if (mode, backend) == REFERENCE and cell.ok:
                self.reference = result.outputs_sha256
        self.sink.save(cell)
        self.listener.cell_done(cell)
        return cell

    def _fail_all(self, todo: list[tuple[str, str]], reason: str) -> None:
        for mode, backend in todo:
            model = self.inputs.models.get(mode)
            cell = failed_record(self.identity, mode, backend, "start", reason, model.size_bytes if model else None)
            self.sink.save(cell)
            self.listener.cell_done(cell)
        todo.clear()
