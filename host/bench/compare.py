"""``host compare``: two builds on one device in one session, interleaved, until decided.

Why interleave: a phone's speed drifts (heat, clocks, what else runs), and two runs made at
different times carry that drift into every cell. Measuring both builds in the same rounds, in
an order drawn afresh each round, spreads the drift over both sides, so what differs is the
build. Each round times every undecided cell of both builds once (each repeat a fresh worker);
after the first ``--min-repeats`` rounds the gate judges after every round and stops when every
cell is decided, ``--max-repeats`` is reached, or another round would overrun ``--budget``.

Both builds are stored as ordinary runs (``host check`` and ``host report`` read them); inside
the bench their modes are named ``baseline:MODE`` and ``current:MODE`` so one device runner
measures them together, and the store sees each side's own mode names.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from host.bench.cells import BenchListener
from host.bench.config import BenchConfig, CompareOptions
from host.bench.inputs import PreparedInputs, prepare_inputs, resolve_bench_inputs
from host.bench.plan import RunPlan, Unit, cell_order, new_plan, new_run_id, now
from host.bench.sink import StoreSink, db_option, on_interrupt
from host.bench.targets import Target, agent_settings, bench_devices, device_runner, find_targets
from host.convert.options import MODES
from host.errors import InputError
from host.gate.options import Thresholds
from host.gate.verdicts import Verdicts, compare
from host.params import with_values
from host.results import CellRecord, DeviceRecord, EnergyRecord, RepeatRecord, RunRecord
from host.store import ResultsStore, StoreLocation

SIDES = ("baseline", "current")


@dataclass(frozen=True)
class CompareResult:
    baseline: RunRecord
    current: RunRecord
    verdicts: Verdicts
    repeats: int  # the most repeats any cell got, per side
    device_seconds: float
    stopped: str  # why no further round ran


def side_mode(side: str, mode: str) -> str:
    return f"{side}:{mode}"


def _restricted(inputs: PreparedInputs, modes: list[str], renamed: dict[str, str]) -> PreparedInputs:
    models = {renamed.get(m, m): replace(f, mode=renamed.get(m, m)) for m, f in inputs.models.items()}
    failed = {renamed.get(m, m): why for m, why in inputs.failed_modes.items()}
    return replace(
        inputs,
        models={m: models[m] for m in modes if m in models},
        failed_modes={m: failed[m] for m in modes if m in failed},
        modes=[m for m in modes if m in models],
    )


def align(baseline: PreparedInputs, current: PreparedInputs) -> tuple[PreparedInputs, PreparedInputs]:
    """Both sides restricted to the modes they share; two single files are one mode, named as
    the baseline's (model_v1.tflite against model_v2.tflite)."""
    if baseline.dataset.sha256 != current.dataset.sha256:
        raise InputError("the two builds would be evaluated on different images; give both the same --dataset")
    names_a, names_b = baseline.stored_modes(), current.stored_modes()
    renamed = {}
    if len(names_a) == 1 and len(names_b) == 1 and names_a != names_b:
        renamed = {names_b[0]: names_a[0]}
        names_b = names_a
    shared = [m for m in names_a if m in names_b]
    if not shared:
        raise InputError(
            f"the builds share no mode: the baseline has {', '.join(names_a)}, the current "
            f"{', '.join(names_b)}; pass --modes both have"
        )
    return _restricted(baseline, shared, {}), _restricted(current, shared, renamed)


def merged(baseline: PreparedInputs, current: PreparedInputs) -> PreparedInputs:
    """One set of inputs holding both builds, each mode named ``side:mode``, interleaved."""
    models, failed, modes = {}, {}, []
    for mode in baseline.stored_modes():
        for side, inputs in zip(SIDES, (baseline, current), strict=True):
            name = side_mode(side, mode)
            modes.append(name)
            if mode in inputs.models:
                models[name] = replace(inputs.models[mode], mode=name)
            else:
                failed[name] = inputs.failed_modes.get(mode, "no model")
    return replace(
        baseline,
        models=models,
        failed_modes=failed,
        modes=[m for m in modes if m in models],
        notes=[*baseline.notes, *current.notes],
    )


class SplitSink:
    """Routes each ``side:mode`` cell and repeat to its side's run, under the plain mode name."""

    def __init__(self, sinks: dict[str, StoreSink]) -> None:
        self.sinks = sinks

    def _route(self, key: tuple[str, str, str]) -> tuple[StoreSink, tuple[str, str, str]]:
        side, mode = key[1].split(":", 1)
        return self.sinks[side], (key[0], mode, key[2])

    def add_device(self, device: DeviceRecord) -> None:
        for sink in self.sinks.values():
            sink.add_device(device)

    def save(self, cell: CellRecord) -> None:
        sink, key = self._route(cell.key)
        sink.save(replace(cell, mode=key[1]))

    def save_repeat(self, key: tuple[str, str, str], repeat: RepeatRecord) -> None:
        sink, plain = self._route(key)
        sink.save_repeat(plain, repeat)

    def save_energy(self, key: tuple[str, str, str], energy: EnergyRecord) -> None:
        sink, plain = self._route(key)
        sink.save_energy(plain, energy)


@dataclass
class Rounds:
    """After the first rounds, one more round of the undecided cells at a time, while the budget lasts.

    The verdicts between rounds are judged on what this compare measured, kept in memory by the
    sinks; only the final verdicts read both runs back from the store."""

    sinks: dict[str, StoreSink]
    limits: Thresholds
    options: CompareOptions
    listener: BenchListener
    seed: int
    planned: int  # units in the first rounds
    started: float = field(default_factory=time.monotonic)
    repeats: int = 0
    added: int = 0
    stopped: str = ""

    def verdicts(self) -> Verdicts:
        return compare(self.sinks["baseline"].so_far(), self.sinks["current"].so_far(), self.limits)

    def more(self) -> list[Unit]:
        if not all(s.created for s in self.sinks.values()):
            self.stopped = "nothing was measured"
            return []
        undecided = sorted({(mode, backend) for _, mode, backend in self.verdicts().undecided_cells()})
        elapsed, done = time.monotonic() - self.started, self.planned + self.added
        next_round = 2 * len(undecided)
        if not undecided:
            self.stopped = "every cell decided"
        elif self.repeats >= self.options.max_repeats:
            self.stopped = f"--max-repeats {self.options.max_repeats} reached"
        elif elapsed + elapsed / max(done, 1) * next_round > 60 * self.options.budget:
            self.stopped = f"the --budget of {self.options.budget:g} min would be overrun by another round"
        if self.stopped:
            return []
        cells = [(side_mode(side, m), b) for m, b in undecided for side in SIDES]
        random.Random(self.seed * 1000 + self.repeats).shuffle(cells)
        units = [Unit(m, b, self.repeats) for m, b in cells]
        self.repeats += 1
        self.added += len(units)
        self.listener.stage(
            f"{len(undecided)} cell(s) undecided after {self.repeats - 1} repeats, "
            f"{elapsed / 60:.1f} of {self.options.budget:g} min used: round {self.repeats}"
        )
        self.listener.matrix(self.planned + self.added, done)
        return units


def run_compare(
    options: CompareOptions,
    config: BenchConfig,
    limits: Thresholds,
    db_path: StoreLocation | Path,
    listener: BenchListener,
) -> CompareResult:
    config = with_values(config, repeats=limits.min_repeats, sustained=0.0, model=options.baseline)
    # two .tflite files are what a release gate compares: their own bytes, unless --modes asks for builds
    files = all(Path(m).suffix.lower() == ".tflite" for m in (options.baseline, options.current))
    config = replace(config, as_built=files and config.conversion.modes == MODES.default)
    config.validate()
    current = replace(config, model=options.current)
    store = ResultsStore(db_path)
    try:
        given = resolve_bench_inputs(config), resolve_bench_inputs(current)  # before any device starts
        with bench_devices(config.devices, listener.stage) as devices:
            if len(devices) != 1:
                raise InputError("host compare measures both builds on one device: name it with --device")
            (target,) = find_targets(devices, agent_settings(config.devices))
            sides = align(prepare_inputs(config, listener, given[0]), prepare_inputs(current, listener, given[1]))
            plan = new_plan(config)
            sinks = {
                side: StoreSink(store, RunPlan(new_run_id(), replace(plan.config, model=ref)), inputs)
                for side, ref, inputs in zip(SIDES, (options.baseline, options.current), sides, strict=True)
            }
            rounds = _measure(plan, merged(*sides), sinks, target, limits, options, listener, db_path)
        runs = []
        for side, inputs in zip(SIDES, sides, strict=True):
            sinks[side].ensure_run()
            store.finish_run(sinks[side].plan.run_id, now(), inputs.notes, inputs.conversion_stats())
            runs.append(store.load_run(sinks[side].plan.run_id))
        verdicts = compare(runs[0], runs[1], limits)
        return CompareResult(
            runs[0], runs[1], verdicts, rounds.repeats, time.monotonic() - rounds.started, rounds.stopped
        )
    finally:
        store.close()


def _measure(
    plan: RunPlan,
    inputs: PreparedInputs,
    sinks: dict[str, StoreSink],
    target: Target,
    limits: Thresholds,
    options: CompareOptions,
    listener: BenchListener,
    db_path: StoreLocation | Path,
) -> Rounds:
    planned = len(plan.units(cell_order(inputs.stored_modes(), plan.config.measurement.backend_names)))
    schedule = plan.config.schedule
    rounds = Rounds(sinks, limits, options, listener, schedule.seed or 0, planned, repeats=schedule.repeats)
    runner = device_runner(target, plan, inputs, SplitSink(sinks), listener, more=rounds.more)
    listener.matrix(planned, 0)
    with on_interrupt(lambda: _stored(sinks, db_path)):
        runner.run()
    return rounds


def _stored(sinks: dict[str, StoreSink], db_path: StoreLocation | Path) -> str | None:
    """What an interrupted compare kept, and the check that judges it (the two builds differ,
    so their inputs do)."""
    if not all(s.created for s in sinks.values()):
        return None
    base, current = (sinks[side].plan.run_id for side in SIDES)
    return (
        f"the repeats so far are stored as runs {base} and {current}: 'host check --baseline {base} --current "
        f"{current} "
        f"--allow-different-inputs{db_option(db_path)}' judges them"
    )
