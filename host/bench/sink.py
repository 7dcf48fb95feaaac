"""Where a bench's measurements go as they finish, and what an interrupted bench says.

The run's row is written only when its first cell is stored, so a bench that never reached a
device leaves no empty run behind to be mistaken for ``latest``. Every command that measures
(``bench``, ``compare``, and ``tune``/``debug`` through ``bench``) ends a Ctrl-C the same way:
what was stored, and the command that continues from it.
"""

from __future__ import annotations

import shlex
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

from host import __version__
from host.bench.inputs import PreparedInputs
from host.bench.plan import RunPlan, now
from host.errors import BenchInterrupted
from host.results import CellRecord, DeviceRecord, EnergyRecord, RepeatRecord, RunRecord
from host.store import ResultsStore, StoreLocation


class StoreSink:
    """Writes cells and devices to the store; creates the run's row before the first of them.

    It also keeps what this bench wrote, so a caller that judges between rounds (``compare``)
    reads its own measurements from memory (``so_far``) instead of the whole run from the store.
    """

    def __init__(self, store: ResultsStore, plan: RunPlan, inputs: PreparedInputs) -> None:
        self.store = store
        self.plan = plan
        self.inputs = inputs
        self.created = plan.previous is not None
        self._lock = threading.Lock()
        self._devices: dict[str, DeviceRecord] = {}
        self._cells: dict[tuple[str, str, str], CellRecord] = {}

    def ensure_run(self) -> None:
        with self._lock:
            if self.created:
                return
            i = self.inputs
            self.store.create_run(
                RunRecord(
                    self.plan.run_id,
                    now(precise=True),
                    __version__,
                    i.model,
                    i.dataset,
                    tuple(i.stored_modes()),
                    tuple(self.plan.config.measurement.backend_names),
                    self.plan.config.to_stored(i.stored_modes()),
                    notes=tuple(i.notes),
                )
            )
            self.created = True

    def add_device(self, device: DeviceRecord) -> None:
        self.ensure_run()
        self.store.add_device(self.plan.run_id, device)
        self._devices[device.serial] = device

    def save(self, cell: CellRecord) -> None:
        self.ensure_run()
        self.store.save_cell(self.plan.run_id, cell)
        self._cells[cell.key] = replace(cell, repeats=())  # as the store does: a redone cell's repeats go with it

    def save_repeat(self, key: tuple[str, str, str], repeat: RepeatRecord) -> None:
        self.store.save_repeat(self.plan.run_id, key, repeat)
        cell = self._cells.get(key)
        if cell is not None:
            kept = tuple(r for r in cell.repeats if (r.kind, r.repeat) != (repeat.kind, repeat.repeat))
            self._cells[key] = replace(cell, repeats=tuple(sorted((*kept, repeat), key=lambda r: (r.kind, r.repeat))))

    def save_energy(self, key: tuple[str, str, str], energy: EnergyRecord) -> None:
        self.store.save_energy(self.plan.run_id, key, energy)
        cell = self._cells.get(key)
        if cell is not None:
            self._cells[key] = replace(cell, energy=energy)

    def so_far(self) -> RunRecord:
        """The run as this bench has written it (a resumed run's earlier cells are not in it)."""
        i = self.inputs
        return RunRecord(
            self.plan.run_id,
            "",
            "",
            i.model,
            i.dataset,
            tuple(i.stored_modes()),
            tuple(self.plan.config.measurement.backend_names),
            devices=tuple(self._devices.values()),
            cells=tuple(self._cells.values()),
        )


def db_option(location: StoreLocation | Path) -> str:
    """`` --db LOCATION`` when it is not the default (a PostgreSQL URL without its password,
    which the environment supplies again), else nothing: for the commands a user is told to run."""
    location = location if isinstance(location, StoreLocation) else StoreLocation(path=location)
    return "" if location.is_default() else f" --db {shlex.quote(location.describe().replace(':***@', '@'))}"


def resume_command(run_id: str, location: StoreLocation | Path) -> str:
    """The exact command that finishes the run."""
    return f"host bench --resume {run_id}{db_option(location)}"


@contextmanager
def on_interrupt(stored: Callable[[], str | None]) -> Iterator[None]:
    """Ctrl-C (or SIGTERM) as one line: ``stored()`` says what is kept and how to go on, or None
    when nothing was stored yet."""
    try:
        yield
    except KeyboardInterrupt:
        raise BenchInterrupted(f"interrupted; {stored() or 'nothing was stored before any cell finished'}") from None
