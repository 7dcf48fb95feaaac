"""What an interrupted ``host tune`` needs: each finished cell told as it lands, and the command
that goes on from ``tune.json``."""

from __future__ import annotations

import shlex
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from host.convert.records import ModeResult
from host.errors import BenchInterrupted
from host.params import flag_of, flat, params
from host.quant.options import TuneOptions
from host.quant.resumable import STATE_FILE
from host.results import CellRecord, EnergyRecord, RepeatRecord, RunRecord

if TYPE_CHECKING:
    from host.bench.cells import BenchListener
    from host.bench.plan import CellKey
    from host.store.location import StoreLocation


class CellsTold:
    """The tune's listener, also telling ``finished`` of each cell as it is stored."""

    def __init__(self, listener: BenchListener, finished: Callable[[CellRecord], None]) -> None:
        self._listener, self._finished = listener, finished

    def stage(self, text: str) -> None:
        self._listener.stage(text)

    def matrix(self, total: int, done: int) -> None:
        self._listener.matrix(total, done)

    def mode_started(self, mode: str, index: int, total: int) -> None:
        self._listener.mode_started(mode, index, total)

    def mode_done(self, result: ModeResult) -> None:
        self._listener.mode_done(result)

    def cell_started(self, key: CellKey) -> None:
        self._listener.cell_started(key)

    def cell_progress(self, key: CellKey, phase: str, fraction: float, message: str = "") -> None:
        self._listener.cell_progress(key, phase, fraction, message)

    def repeat_done(self, key: CellKey, repeat: RepeatRecord) -> None:
        self._listener.repeat_done(key, repeat)

    def energy_done(self, key: CellKey, energy: EnergyRecord) -> None:
        self._listener.energy_done(key, energy)

    def cell_done(self, cell: CellRecord) -> None:
        self._listener.cell_done(cell)
        self._finished(cell)


def resume_command(options: TuneOptions, db: StoreLocation) -> str:
    """The same ``host tune`` command: the model, then every option that is not its default
    (``--db`` without a password, which the environment supplies again)."""
    from host.bench.sink import db_option

    values, defaults = flat(options), flat(TuneOptions())
    words = ["host", "tune", shlex.quote(options.model)]
    for field, spec in params(TuneOptions):
        value = values[field.name]
        if spec.positional or field.name == "db" or value == defaults[field.name]:
            continue
        flag = flag_of(field, spec)
        if isinstance(value, bool):
            words.append(flag)
        elif isinstance(value, tuple):
            words += [part for item in value for part in (flag, shlex.quote(str(item)))]
        else:
            words += [flag, shlex.quote(str(value))]
    return " ".join(words) + db_option(db)


def device_measure(
    options: TuneOptions, preset: str | None, dataset: Path, db: StoreLocation, listener: BenchListener
) -> Callable[[Path, Callable[[CellRecord], None]], RunRecord]:
    """How both searches bench a folder of candidates on the device: the tune's data, device and
    backend, each finished cell told to ``finished`` as it is stored."""
    from host.bench.config import BenchConfig
    from host.bench.run import run_bench

    bench = BenchConfig.of(dataset=str(dataset), labels=options.labels, limit=options.limit, backends=options.backend,
                           preset=preset, device=options.device, adb_server=options.adb_server)  # fmt: skip

    def measure(folder: Path, finished: Callable[[CellRecord], None]) -> RunRecord:
        return run_bench(replace(bench, model=str(folder)), db, CellsTold(listener, finished))

    return measure


def interrupted(options: TuneOptions, db: StoreLocation) -> BenchInterrupted:
    """What an interrupted search says: where its measured candidates are, and the command that goes on."""
    return BenchInterrupted(
        f"interrupted; the candidates measured so far are kept in {Path(options.out) / STATE_FILE}: "
        f"'{resume_command(options, db)}' goes on from them"
    )
