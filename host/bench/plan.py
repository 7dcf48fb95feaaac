"""What a run measures and what is left of it: the cell order, and the resume policy.

A new run measures every mode x backend on every device, the fidelity reference (none/cpu1)
first. ``--resume RUN_ID`` takes the stored settings, refuses a changed model or dataset, and
keeps the cells that are ``ok`` or ``unavailable``: only missing or failed cells run again.
"""

from __future__ import annotations

import random
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Literal

from device_agent.contract import CellStatus
from host.bench.config import BenchConfig
from host.bench.inputs import PreparedInputs
from host.errors import InputError
from host.params import flag_of, flat, params, with_values
from host.results import CellRecord, RunRecord

REFERENCE = ("none", "cpu1")
UnitKind = Literal["repeat", "sustained", "energy"]  # a timing, the long run, or the energy loops
KEPT = (CellStatus.OK, CellStatus.UNAVAILABLE)  # what a resume keeps; a failed or missing cell is measured again
CellKey = tuple[str, str, str]  # device identity, mode, backend


def now(precise: bool = False) -> str:
    """UTC, to the second; ``precise`` to the microsecond (a run's start: "latest" must be exact)."""
    return datetime.now(timezone.utc).isoformat(timespec="microseconds" if precise else "seconds")


def new_run_id() -> str:
    return datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(3)


def cell_order(modes: list[str], backends: list[str]) -> list[tuple[str, str]]:
    """Modes in table order x backends as given, the fidelity reference (none/cpu1) first."""
    order = [(m, b) for m in modes for b in backends]
    if REFERENCE in order:
        order.remove(REFERENCE)
        order.insert(0, REFERENCE)
    return order


@dataclass(frozen=True)
class Unit:
    """One timing of one cell: repeat 0 also evaluates accuracy; "sustained" is the long run;
    "energy" the idle baselines and loops read on the phone's meter, after every timing."""

    mode: str
    backend: str
    repeat: int = 0
    kind: UnitKind = "repeat"

    @property
    def cell(self) -> tuple[str, str]:
        return (self.mode, self.backend)


def units(
    cells: list[tuple[str, str]],
    repeats: int,
    order: str,
    seed: int,
    sustained: Sequence[tuple[str, str]] = (),
    energy: bool = False,
) -> list[Unit]:
    """Every timing of the run in the order it is measured; the fidelity reference comes first.

    ``blocked``: a cell's repeats together; ``interleaved``: round after round of every cell;
    ``shuffled``: rounds in an order drawn from ``seed`` (recorded, so the order is reproducible).
    """
    if order == "blocked":
        plan = [Unit(m, b, r) for m, b in cells for r in range(repeats)]
    else:
        rng = random.Random(seed)
        plan = []
        for r in range(repeats):
            round_cells = list(cells)
            if order == "shuffled":
                rng.shuffle(round_cells)
            plan += [Unit(m, b, r) for m, b in round_cells]
    first = Unit(*REFERENCE)
    if first in plan:
        plan.remove(first)
        plan.insert(0, first)
    plan += [Unit(m, b, 0, "sustained") for m, b in sustained if (m, b) in cells]
    return plan + ([Unit(m, b, 0, "energy") for m, b in cells] if energy else [])


def _has(cell: CellRecord, unit: Unit) -> bool:
    """Whether a kept cell already holds this unit's measurement."""
    if unit.kind == "energy":
        return cell.energy is not None
    return any(r.repeat == unit.repeat and r.kind == unit.kind for r in cell.repeats)


@dataclass(frozen=True)
class RunPlan:
    """The run to write into, its settings, and the cells an earlier attempt already finished."""

    run_id: str
    config: BenchConfig
    previous: RunRecord | None = None
    done: dict[CellKey, CellRecord] = field(default_factory=dict)

    def units(self, cells: list[tuple[str, str]]) -> list[Unit]:
        c = self.config.schedule
        sustained = c.sustained_pairs() if c.sustained > 0 else []
        return units(cells, c.repeats, c.order, c.seed or 0, sustained, c.energy)

    def todo(self, identity: str, cells: list[tuple[str, str]]) -> list[Unit]:
        """The units still to measure: those of cells not kept, and repeats the kept cells lack."""
        left = []
        for unit in self.units(cells):
            cell = self.done.get((identity, *unit.cell))
            if cell is None or cell.ok and not _has(cell, unit):
                left.append(unit)
        return left

    def with_done(self, stored: RunRecord) -> RunPlan:
        """The plan keeping the cells ``stored`` holds as finished (ok or unavailable)."""
        return replace(self, done={c.key: c for c in stored.cells if c.status in KEPT})

    def stored_reference(self, identity: str) -> str:
        """The sha256 of the reference outputs an earlier attempt left on this device, if any."""
        cell = self.done.get((identity, *REFERENCE))
        return cell.result.outputs_sha256 if cell else ""

    def check_inputs(self, inputs: PreparedInputs) -> None:
        """A resumed run must measure the same model on the same images."""
        if self.previous is None:
            return
        if self.previous.model.sha256 != inputs.model.sha256:
            raise InputError(f"the model changed since run {self.run_id}; start a new run instead of resuming")
        if self.previous.dataset.sha256 != inputs.dataset.sha256:
            raise InputError(f"the dataset changed since run {self.run_id}; start a new run instead of resuming")


def new_plan(config: BenchConfig) -> RunPlan:
    """A new run; a shuffled order without --seed gets a new seed, recorded with the run."""
    if config.schedule.seed is None:
        config = with_values(config, seed=secrets.randbelow(2**31))
    return RunPlan(new_run_id(), config)


RENAMEABLE = frozenset({"device", "adb_server"})  # what a resume may name anew: where the devices are now


def resume_plan(previous: RunRecord, given: BenchConfig) -> RunPlan:
    """The stored run's settings (devices and adb server may be named anew) and its kept cells;
    any other setting given with --resume is refused, since the stored one would silently win."""
    defaults, asked = flat(BenchConfig()), flat(given)
    changed = sorted(name for name, value in asked.items() if value != defaults[name] and name not in RENAMEABLE)
    if changed:
        named = {field.name: flag_of(field, spec) for field, spec in params(BenchConfig)}
        flags = ", ".join(named[name] for name in changed)
        raise InputError(
            f"--resume {previous.run_id} finishes that run with its stored settings: leave out {flags} "
            "(or start a new run with them)"
        )
    stored = BenchConfig.from_stored(previous.config, f"run {previous.run_id}")
    config = stored.with_devices(given.devices.device, given.devices.adb_server)
    return RunPlan(previous.run_id, config, previous).with_done(previous)
