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
from host.bench.inputs import PreparedInputs, prepare_inputs
from host.bench.plan import RunPlan, Unit, new_plan, new_run_id, now
from host.bench.run import RESTARTS, StoreSink, Target, agent_settings, conversion_stats, find_targets
from host.bench.runner import DeviceRunner
from host.bench.targets import bench_devices
from host.devices.agent.session import AgentSession, open_session
from host.devices.selection.lock import device_lock
from host.devices.selection.reconnect import wait_for_device
from host.errors import BenchInterrupted, InputError
from host.gate.options import Thresholds
from host.gate.verdicts import Verdicts, compare
from host.results import CellRecord, DeviceRecord, RepeatRecord, RunRecord
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
    return replace(inputs, models={m: models[m] for m in modes if m in models},
                   failed_modes={m: failed[m] for m in modes if m in failed}, modes=[m for m in modes if m in models])


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
        raise InputError(f"the builds share no mode: the baseline has {', '.join(names_a)}, the current "
                         f"{', '.join(names_b)}; pass --modes both have")
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
    return replace(baseline, models=models, failed_modes=failed, modes=[m for m in modes if m in models],
                   notes=[*baseline.notes, *current.notes])


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


@dataclass
class Rounds:
    """After the first rounds, one more round of the undecided cells at a time, while the budget lasts."""

    store: ResultsStore
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
        runs = [self.store.load_run(self.sinks[side].plan.run_id) for side in SIDES]
        return compare(runs[0], runs[1], self.limits)

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
        self.listener.stage(f"{len(undecided)} cell(s) undecided after {self.repeats - 1} repeats, "
                            f"{elapsed / 60:.1f} of {self.options.budget:g} min used: round {self.repeats}")
        self.listener.matrix(self.planned + self.added, done)
        return units


def run_compare(options: CompareOptions, config: BenchConfig, limits: Thresholds, db_path: StoreLocation | Path,
                listener: BenchListener) -> CompareResult:
    config = replace(config, repeats=limits.min_repeats, sustained=0.0, model=options.baseline)
    config.validate()
    store = ResultsStore(db_path)
    try:
        with bench_devices(config, listener.stage) as devices:
            if len(devices) != 1:
                raise InputError("host compare measures both builds on one device: name it with --device")
            (target,) = find_targets(devices, agent_settings(config))
            sides = align(prepare_inputs(config, listener), prepare_inputs(replace(config, model=options.current), listener))
            plan = new_plan(config)
            sinks = {side: StoreSink(store, RunPlan(new_run_id(), replace(plan.config, model=ref)), inputs)
                     for side, ref, inputs in zip(SIDES, (options.baseline, options.current), sides, strict=True)}
            rounds = _measure(plan, merged(*sides), sinks, target, store, limits, options, listener)
        runs = []
        for side, inputs in zip(SIDES, sides, strict=True):
            sinks[side].ensure_run()
            store.finish_run(sinks[side].plan.run_id, now(), inputs.notes, conversion_stats(inputs))
            runs.append(store.load_run(sinks[side].plan.run_id))
        verdicts = compare(runs[0], runs[1], limits)
        return CompareResult(runs[0], runs[1], verdicts, rounds.repeats, time.monotonic() - rounds.started, rounds.stopped)
    finally:
        store.close()


def _measure(plan: RunPlan, inputs: PreparedInputs, sinks: dict[str, StoreSink], target: Target, store: ResultsStore,
             limits: Thresholds, options: CompareOptions, listener: BenchListener) -> Rounds:
    settings = agent_settings(plan.config)

    def open_agent() -> AgentSession:
        listener.stage(f"deploying the agent to {target.device.serial}")
        return open_session(target.device, settings, target.launcher)

    runner = DeviceRunner(target.identity, open_agent, plan, inputs, SplitSink(sinks), listener,
                          hold=lambda: device_lock(target.identity, wait=plan.config.wait, on_wait=listener.stage),
                          restarts=RESTARTS,
                          reconnect=lambda: wait_for_device(target.device, plan.config.reconnect_wait, listener.stage))
    planned = len(plan.units(runner.order()))
    rounds = Rounds(store, sinks, limits, options, listener, plan.config.seed or 0, planned, repeats=plan.config.repeats)
    runner.more = rounds.more
    listener.matrix(planned, 0)
    try:
        runner.run()
    except KeyboardInterrupt:
        ids = " and ".join(s.plan.run_id for s in sinks.values())
        raise BenchInterrupted(f"interrupted; the repeats so far are stored as runs {ids}: 'host check --baseline "
                               f"{sinks['baseline'].plan.run_id} --current {sinks['current'].plan.run_id}' judges them"
                               if all(s.created for s in sinks.values()) else "interrupted before both builds were "
                               "measured; nothing to judge") from None
    return rounds
