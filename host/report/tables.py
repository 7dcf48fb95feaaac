"""The seed post's three tables (size, accuracy, latency) plus fidelity and delegation, as data.

Console, Markdown and HTML all render these; a cell that was not measured never shows a number:
it shows ``unavailable [n]`` or ``failed [n]`` with its reason as footnote n.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from device_agent.contract import SNR_CEILING_DB, CellStatus
from host.report.energy import TITLE, energy_lines, energy_rows, has_figures
from host.results import CellRecord, DeviceRecord, RunRecord, TaskMetrics, accelerator_text

CONSOLE_REASON = 400  # characters of a reason on the console; the JSON, Markdown and HTML keep it whole


def console_reason(reason: str) -> str:
    """A reason as one console line: a loader that lists every node it failed (dozens of lines)
    is cut, and the line says where the whole of it is."""
    return (
        reason if len(reason) <= CONSOLE_REASON else reason[:CONSOLE_REASON].rstrip() + " ... (whole in the run's JSON)"
    )


@dataclass
class Footnotes:
    """One device's reasons, numbered in the order their first cell finished: the order the
    progress lines met them in, so ``[2]`` means the same on the console and in every report."""

    reasons: list[str] = field(default_factory=list)

    @classmethod
    def of(cls, cells: list[CellRecord]) -> Footnotes:
        notes = cls()
        for cell in sorted((c for c in cells if not c.ok), key=lambda c: c.finished):
            notes.number(cell)
        return notes

    def number(self, cell: CellRecord) -> tuple[int, bool]:
        """The cell's footnote number, and whether it is new (its reason is said the first time)."""
        reason = " ".join((cell.error or cell.status).split())  # a loader's multi-line message reads as one line
        new = reason not in self.reasons
        if new:
            self.reasons.append(reason)
        return self.reasons.index(reason) + 1, new

    def mark(self, cell: CellRecord) -> str:
        return f"{cell.status} [{self.number(cell)[0]}]"


@dataclass(frozen=True)
class Table:
    title: str
    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    name: str = ""  # what --tables calls it


@dataclass(frozen=True)
class RunTables:
    """One device's tables and the lines under them. ``folded`` says in one line each what a
    backend that was unavailable for every build lacked (its column is left out); ``headline``
    is what the default view prints under the summary, ``lines`` everything about how it was
    measured (repeats, pinning, fingerprint, memory, start, sustained runs)."""

    device: str
    tables: tuple[Table, ...]
    footnotes: tuple[str, ...]
    lines: tuple[str, ...] = ()
    folded: tuple[str, ...] = ()
    headline: tuple[str, ...] = ()

    def chosen(self, names: tuple[str, ...]) -> tuple[Table, ...]:
        """The tables asked for; the summary brings the energy table along when the run measured it."""
        wanted = (*names, "energy") if "summary" in names else names
        return tuple(t for t in self.tables if t.name in wanted)


def modes_backends(cells: list[CellRecord], run: RunRecord) -> tuple[list[str], list[str]]:
    """The run's modes and backends that have cells here, in the run's order."""
    modes = [m for m in run.modes if any(c.mode == m for c in cells)]
    backends = [b for b in run.backends if any(c.backend == b for c in cells)]
    return modes or sorted({c.mode for c in cells}), backends or sorted({c.backend for c in cells})


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}%"


TASK_TITLES = {
    "segment": "Segmentation: mIoU / pixel accuracy ({count} images)",
    "detect": "Detection (COCO): mAP@0.5:0.95 / mAP@0.5 ({count} images)",
    "keypoints": "Keypoints: PCK@0.05 / mean error in input pixels ({count} images)",
}


TASK_QUALITY = {
    "segment": "mIoU / pixel accuracy",
    "detect": "mAP@0.5:0.95 / mAP@0.5",
    "keypoints": "PCK@0.05 / mean error",
}


def task_text(task: TaskMetrics) -> str:
    if task.task == "segment":
        return f"{_pct(task.mean_iou)} / {_pct(task.pixel_accuracy)}"
    if task.task == "detect":
        return f"{_pct(task.map_50_95)} / {_pct(task.map_50)}"
    return f"{_pct(task.pck)} / {task.mean_error_px:.2f} px" if task.mean_error_px is not None else _pct(task.pck)


def _accuracy(run: RunRecord, cell: CellRecord) -> str:
    if cell.task is not None:
        return task_text(cell.task)
    accuracy = cell.result.accuracy
    if accuracy is None:
        return "n/a (no labels)" if run.dataset.sha256 else "n/a (no dataset)"
    return f"{_pct(accuracy.top1)} / {_pct(accuracy.top3)}"


def _latency(run: RunRecord, cell: CellRecord) -> str:
    """One run's p50 ±std; with repeats, the median of their medians [95% CI], the between-repeat
    CV, and how many repeats count (throttled ones are left out and said so)."""
    latency = cell.result.latency
    if latency is None:
        return "-"
    timed = cell.timed
    if len(timed) < 2:
        return f"{latency.p50:.3f} ±{latency.std:.3f}" + (" (throttled)" if throttled_figure(cell) else "")
    from host.gate.stats import summarize_repeats

    s = summarize_repeats([r.median_ms for r in timed])
    interval = f" [{s.low:.3f}, {s.high:.3f}]" if s.low is not None and s.high is not None else ""
    throttled = sum(1 for r in cell.repeats if r.kind == "repeat" and r.throttled)
    left_out = f", {throttled} throttled" if throttled else ""
    return f"{s.median:.3f}{interval} cv {100 * s.cv:.1f}% (n={s.count}{left_out})"


def throttled_figure(cell: CellRecord) -> bool:
    """The cell's figure is its first run's own (fewer than two repeats count) and that run was throttled."""
    return len(cell.timed) < 2 and any(r.kind == "repeat" and r.repeat == 0 and r.throttled for r in cell.repeats)


def snr_text(snr_db: float | None) -> str:
    """An SNR in dB as a reader needs it: the ceiling (float32's precision) reads "identical"."""
    if snr_db is None:
        return "n/a"
    return "identical" if snr_db >= SNR_CEILING_DB else f"{snr_db:.1f} dB"


def _fidelity(run: RunRecord, cell: CellRecord) -> str:
    """The worst output's SNR, then the first output's top-1 agreement where it is a classifier's
    (results stored before outputs were compared one by one show agreement / mean abs error)."""
    if (cell.mode, cell.backend) == ("none", "cpu1"):
        return "reference"
    fidelity = cell.result.fidelity
    if fidelity is None:
        return "n/a"
    if fidelity.snr_db is None:
        return f"{_pct(fidelity.top1_agreement)} / {fidelity.mean_abs_error:.4f}"
    worst = min(fidelity.outputs, key=lambda o: o.snr_db) if len(fidelity.outputs) > 1 else None
    where = f" ({worst.name})" if worst is not None else ""
    agreement = f" / {_pct(fidelity.top1_agreement)}" if fidelity.top1_agreement is not None else ""
    return snr_text(fidelity.snr_db) + where + agreement


def output_fidelity_table(run: RunRecord, serial: str) -> Table | None:
    """Every output's agreement with the reference in every cell that compared: the detail behind
    the fidelity grid's worst-output figure."""
    rows = []
    for cell in (c for c in run.cells if c.device == serial and c.ok):
        fidelity = cell.result.fidelity
        for output in fidelity.outputs if fidelity is not None else ():
            rows.append(
                (
                    f"{cell.mode}/{cell.backend}",
                    output.name,
                    f"{output.values:,}",
                    snr_text(output.snr_db),
                    f"{output.cosine:.5f}",
                    f"{output.mean_abs_error:.4g}",
                    f"{output.max_abs_error:.4g}",
                    _pct(output.top1_agreement),
                )
            )
    if not rows:
        return None
    header = ("cell", "output", "values", "SNR", "cosine", "mean abs error", "max abs error", "top-1 agreement")
    return Table("Fidelity of every output vs none/cpu1", header, tuple(rows))


def _delegation(run: RunRecord, cell: CellRecord) -> str:
    d = cell.result.delegation
    if d is None:
        return "-"
    if d.engine == "litert-compiled-model":
        return f"{d.delegated_nodes}/{d.total_nodes} ops on {d.delegate.upper()}" + (
            " (software)" if d.hardware else ""
        )
    text = f"{d.delegated_nodes}/{d.total_nodes} {d.delegate}".strip()
    return text + (": fallback, nothing delegated" if d.delegated_nodes == 0 else "")


def _memory(run: RunRecord, cell: CellRecord) -> str:
    """The model's footprint over the worker's baseline (Python, numpy and the runtime loaded):
    after init and at the peak; the absolute figures are in the JSON."""
    memory = cell.result.memory
    if memory is None:
        return "-"
    init, peak = memory.delta(memory.init_rss_mb), memory.delta(memory.peak_rss_mb)
    if init is None or peak is None:
        return f"{memory.peak_rss_mb:.1f} (absolute: no baseline)"
    return f"+{max(init, 0.0):.1f} / +{max(peak, 0.0):.1f}"


def _start(run: RunRecord, cell: CellRecord) -> str:
    """Cold init (the first start on the device) / warm init (a fresh worker with the caches the cold
    start wrote); where there is no warm figure, the reason is short here and whole in the lines."""
    latency, warm = cell.result.latency, cell.result.warm_start
    if latency is None:
        return "-"
    if warm is None:
        return f"{latency.init_ms:.1f} / not measured"
    if warm.init_ms > 0:
        return f"{latency.init_ms:.1f} / {warm.init_ms:.1f}"
    return f"{latency.init_ms:.1f} / " + ("no cache" if not warm.cache else "none (see below)")


def start_lines(cells: list[CellRecord]) -> list[str]:
    """What cold and warm mean, which caches a warm start read, and why a cell has no warm figure."""
    started = [c for c in cells if c.ok and c.result.warm_start is not None]
    if not started:
        return []
    caches = sorted({w.cache for c in started if (w := c.result.warm_start) and w.init_ms > 0})
    lines = [
        "start: cold = the first start on the device (the cell's caches cleared first); warm = a fresh worker "
        f"starting it again with what the cold start wrote ({', '.join(caches) or 'no cache was read'})"
    ]
    if any(c.result.warm_start and not c.result.warm_start.cache for c in started):
        lines.append(
            "no cache: the TFLite interpreter (CPU, NNAPI, a classic GPU delegate) keeps nothing on disk between "
            "launches, so those cells start cold every time"
        )
    lines += [
        f"{c.mode}/{c.backend}: no warm start figure: {w.note}"
        for c in started
        if (w := c.result.warm_start) and w.cache and w.init_ms <= 0
    ]
    return lines


def memory_lines(cells: list[CellRecord]) -> list[str]:
    """How the memory table's peak was found, and that no accelerator memory figure exists."""
    measured = [c.result.memory for c in cells if c.ok and c.result.memory and c.result.memory.baseline_rss_mb > 0]
    if not measured:
        return []
    sources = sorted({m.peak_source for m in measured if m.peak_source})
    lines = [
        f"memory: the worker's RSS less its baseline (runtime loaded, before the timed model); peak: "
        f"{'; '.join(sources)}"
    ]
    if any(c.result.delegation and c.result.delegation.engine == "litert-compiled-model" for c in cells if c.ok):
        lines.append(
            "GPU/NPU memory: not reported (LiteRT's C API gives no accelerator memory figure); the RSS deltas "
            "include what the accelerator maps into the worker"
        )
    return lines


def accelerator_lines(cells: list[CellRecord]) -> list[str]:
    """What ran each accelerated backend (name, version, precision), and whether it was software."""
    seen: dict[str, set[str]] = {}
    for cell in cells:
        d = cell.result.delegation
        if cell.ok and d is not None and d.engine == "litert-compiled-model":
            text = (accelerator_text(d) or "") + (
                " (its latency is not a phone's; recommend ignores it)" if d.hardware else ""
            )
            seen.setdefault(cell.backend, set()).add(text)
    return [f"{backend}: {'; '.join(sorted(names))}" for backend, names in sorted(seen.items())]


GRIDS: tuple[tuple[str, str, Callable[[RunRecord, CellRecord], str]], ...] = (
    ("accuracy", "Accuracy top-1 / top-3 ({count} images)", _accuracy),
    (
        "latency",
        "Latency p50 (ms): ±std in one run; with repeats, median of repeat medians [95% CI], CV between repeats",
        _latency,
    ),
    ("fidelity", "Fidelity vs none/cpu1: worst output's SNR (which output, when several) / top-1 agreement", _fidelity),
    ("delegation", "Delegation: nodes taken by the delegate / all nodes; ops on the GPU/NPU (LiteRT)", _delegation),
    ("memory", "Memory (MB) over the worker's baseline: after init / peak", _memory),
    ("start", "Start (ms): cold init / warm init (a fresh worker with the caches the cold start wrote)", _start),
)


def _size_cells(size: int | None, base: int | None) -> tuple[str, str]:
    if not size:
        return "-", "-"
    return f"{size:,}", f"{size / base:.3f}" if base else "-"


def folded_backends(cells: list[CellRecord], backends: list[str]) -> dict[str, CellRecord]:
    """Backends unavailable in every build for one reason (NNAPI on a device without it), each
    with one of its cells: their column would repeat that reason in every row, so it is said once
    under the tables instead."""
    folded = {}
    for backend in backends:
        theirs = [c for c in cells if c.backend == backend]
        if all(c.status is CellStatus.UNAVAILABLE for c in theirs) and len({c.error for c in theirs}) == 1:
            folded[backend] = theirs[0]
    return folded if len(folded) < len(backends) else {}


def _p50(cell: CellRecord) -> str:
    """The summary's latency: one run's p50, or with repeats the median of their medians."""
    latency = cell.result.latency
    if latency is None:
        return "-"
    if len(cell.timed) < 2:
        return f"{latency.p50:.3f}" + (" (throttled)" if throttled_figure(cell) else "")
    return f"{float(np.median([r.median_ms for r in cell.timed])):.3f}"


def _quality_cell(
    run: RunRecord, by_mode: list[CellRecord], render: Callable[[RunRecord, CellRecord], str], notes: Footnotes
) -> str:
    """A build's quality from its first measured backend (cpu1 in a plain run), naming any other."""
    ok = [c for c in by_mode if c.ok]
    if not ok:
        return notes.mark(by_mode[0]) if by_mode else "not run"
    text = render(run, ok[0])
    return text if ok[0].backend == "cpu1" else f"{text} ({ok[0].backend})"


def _human_size(size: int) -> str:
    return f"{size / 1e6:.2f} MB" if size >= 100_000 else f"{size / 1e3:.1f} kB"


def summary_table(
    run: RunRecord,
    cells: list[CellRecord],
    modes: list[str],
    sizes: dict[str, int | None],
    backends: list[str],
    headers: list[str],
    notes: Footnotes,
) -> Table:
    """The seed's table in one: size, quality, p50 latency per backend, a row per build."""
    labelled = any(c.task is not None or c.result.accuracy is not None for c in cells)
    task = next((c.task.task for c in cells if c.task is not None), None)
    quality, render = (
        (TASK_QUALITY.get(task or "", "top-1 / top-3"), _accuracy) if labelled else ("fidelity (worst SNR)", _fidelity)
    )
    base = sizes.get("none")
    grid = {(c.mode, c.backend): c for c in cells}
    rows = []
    for mode in modes:
        size = sizes[mode]
        row = [
            mode,
            _human_size(size) if size else "-",
            f"{size / base:.2f}x" if size and base else "-",
            _quality_cell(run, [grid[(mode, b)] for b in backends if (mode, b) in grid], render, notes),
        ]
        for backend in backends:
            cell = grid.get((mode, backend))
            row.append("not run" if cell is None else _p50(cell) if cell.ok else notes.mark(cell))
        rows.append(tuple(row))
    header = ("mode", "size", "vs none", quality, *(f"p50 {h} (ms)" for h in headers))
    return Table(
        f"Summary ({run.dataset.count} images): size, {quality}, p50 latency per backend",
        header,
        tuple(rows),
        "summary",
    )


def device_tables(run: RunRecord, serial: str) -> RunTables:
    """The tables for one device; every cell without a number points at its footnote, except a
    backend unavailable throughout, which is one line under the tables."""
    cells = [c for c in run.cells if c.device == serial]
    modes, backends = modes_backends(cells, run)
    folded = folded_backends(cells, backends)
    backends = [b for b in backends if b not in folded]
    cells_shown = [c for c in cells if c.backend not in folded]
    grid = {(c.mode, c.backend): c for c in cells_shown}
    notes = Footnotes.of(cells)  # numbered as the progress lines numbered them, folded backends too
    software = {c.backend for c in cells if c.result.delegation is not None and c.result.delegation.hardware}
    headers = [f"{b} (software)" if b in software else b for b in backends]  # no column reads as a phone's GPU/NPU
    sizes = {m: next((c.size_bytes for c in cells if c.mode == m and c.size_bytes), None) for m in modes}
    tables = [summary_table(run, cells_shown, modes, sizes, backends, headers, notes)]
    tables.append(
        Table(
            "Model size",
            ("mode", "bytes", "vs none"),
            tuple((m, *_size_cells(sizes[m], sizes.get("none"))) for m in modes),
            "size",
        )
    )
    for name, title, render in GRIDS:
        rows = []
        for mode in modes:
            row = [mode]
            for backend in backends:
                cell = grid.get((mode, backend))
                row.append("not run" if cell is None else render(run, cell) if cell.ok else notes.mark(cell))
            rows.append(tuple(row))
        if render is _accuracy:
            title = next((TASK_TITLES[c.task.task] for c in cells if c.task is not None), title)
        tables.append(Table(title.format(count=run.dataset.count), ("mode", *headers), tuple(rows), name))
    if has_figures(cells_shown):
        tables.append(Table(TITLE, ("mode", *headers), energy_rows(cells_shown, modes, backends), "energy"))
    folded_lines = tuple(
        f"{backend}: unavailable for every build [{notes.number(cell)[0]}]" for backend, cell in folded.items()
    )
    headline = headline_lines(run, serial, cells)
    return RunTables(
        serial, tuple(tables), tuple(notes.reasons), measurement_lines(run, serial, cells), folded_lines, headline
    )


def repeat_lines(run: RunRecord, cells: list[CellRecord]) -> list[str]:
    """The repeats, their order and seed, and the throttled repeats left out of the figures."""
    repeats = [r for c in cells for r in c.repeats if r.kind == "repeat"]
    if not repeats:
        return []
    most = max(r.repeat for r in repeats) + 1
    order = run.config.get("order", "")
    seed = f", seed {run.config['seed']}" if order == "shuffled" and run.config.get("seed") is not None else ""
    left_out = sum(1 for c in cells if len(c.timed) >= 2 for r in c.repeats if r.kind == "repeat" and r.throttled)
    lines = [
        f"{most} repeat(s) per cell, each in a fresh worker, order {order or 'as planned'}{seed}"
        + (f"; {left_out} throttled repeat(s) left out of the figures" if most > 1 else "")
    ]
    shown = sum(1 for c in cells if throttled_figure(c))
    if shown:
        lines.append(
            f"{shown} cell(s) measured while throttled: fewer than two of their repeats ran unthrottled, so "
            "the figure is the first run's, marked (throttled); verdicts leave throttled repeats out"
        )
    return lines


def measurement_lines(run: RunRecord, serial: str, cells: list[CellRecord]) -> tuple[str, ...]:
    """The repeats, their order and seed, the CPU pinning and performance mode, throttled repeats
    left out, and each sustained run's windows: what a reader needs to trust the latency table."""
    from host.report.sustained import describe, sustained_runs

    lines = repeat_lines(run, cells)
    device = next((d for d in run.devices if d.serial == serial), None)
    if device is not None:
        lines += fingerprint_lines(device, cells)
    if device is not None and (device.cpu_mask or device.fixed_performance):
        pinned = f"workers pinned to CPUs {device.cpu_mask:#x}" if device.cpu_mask else "workers not pinned"
        lines.append(pinned + ("; Android fixed-performance mode on" if device.fixed_performance else ""))
    lines += accelerator_lines(cells)
    lines += memory_lines(cells)
    lines += start_lines(cells)
    lines += energy_lines(cells)
    lines += [describe(s) for s in sustained_runs(cells)]
    return tuple(lines)


def headline_lines(run: RunRecord, serial: str, cells: list[CellRecord]) -> tuple[str, ...]:
    """Under the summary by default: the repeats and any throttling, what ran the accelerated
    backends, the device in one line (with its state at the start, and a change mid-run), and
    the sustained runs asked for; the rest of how it was measured waits for --tables all."""
    from host.report.sustained import describe, sustained_runs

    lines = [*repeat_lines(run, cells), *accelerator_lines(cells), *energy_lines(cells)]
    device = next((d for d in run.devices if d.serial == serial), None)
    if device is not None and device.fingerprint is not None:
        lines.append("; ".join([fingerprint_line(device), *start_lines_of(device)]))
        lines += changed_fingerprint_lines(device, cells)
    return (*lines, *(describe(s) for s in sustained_runs(cells)))


def _clocks(max_khz: tuple[int, ...]) -> str:
    distinct = sorted({k for k in max_khz if k}, reverse=True)
    return "/".join(f"{k / 1e6:.2f}" for k in distinct) + " GHz" if distinct else "unknown"


def fingerprint_line(device: DeviceRecord) -> str:
    """The fingerprint in one line: which software on which chip (the rest with --tables all)."""
    f = device.fingerprint
    assert f is not None
    return (
        f"fingerprint {f.id}: build {f.build or 'unknown'}; SoC {f.soc or 'unknown'}; {f.runtime or 'runtime unknown'}"
    )


def fingerprint_lines(device: DeviceRecord, cells: list[CellRecord]) -> list[str]:
    """The device's fingerprint and its state when the run started; cells measured under another
    fingerprint (the phone was updated or swapped mid-run) are counted."""
    lines = []
    f = device.fingerprint
    if f is not None:
        governors = ", ".join(sorted({g for g in f.governors if g})) or "unknown"
        lines.append(
            f"fingerprint {f.id}: build {f.build or 'unknown'}; SoC {f.soc or 'unknown'} ({f.hardware or '?'}); "
            f"kernel {f.kernel or 'unknown'}; governor {governors}; max clocks {_clocks(f.max_khz)}; "
            f"{f.runtime or 'runtime unknown'}" + (f"; {'; '.join(f.delegates)}" if f.delegates else "")
        )
    return lines + changed_fingerprint_lines(device, cells) + start_lines_of(device)


def changed_fingerprint_lines(device: DeviceRecord, cells: list[CellRecord]) -> list[str]:
    """How many cells were measured under another fingerprint than the run's first."""
    f = device.fingerprint
    other = sum(1 for c in cells if f is not None and c.fingerprint and c.fingerprint != f.id)
    return (
        [f"{other} cell(s) were measured under another fingerprint: the device changed during the run"] if other else []
    )


def start_lines_of(device: DeviceRecord) -> list[str]:
    """The phone's battery and thermal state when the run started, where it was read."""
    s = device.at_start
    if s is None:
        return []
    battery = f"battery {s.battery_level}%" if s.battery_level >= 0 else "battery unknown"
    battery += f" at {s.battery_temp_c:.1f} C" if s.battery_temp_c is not None else ""
    battery += f" ({s.plugged})" if s.plugged else ""
    hottest = f", hottest CPU zone {s.hottest_c:.1f} C" if s.hottest_c is not None else ""
    return [
        f"at the start: {battery}, thermal status {s.thermal_status if s.thermal_status >= 0 else 'unknown'}{hottest}"
    ]


def repeats_table(run: RunRecord, serial: str) -> Table | None:
    """Every repeat with the phone's state around it (the HTML report's detail)."""
    rows = []
    for cell in (c for c in run.cells if c.device == serial):
        for r in sorted(cell.repeats, key=lambda r: r.position):
            hot = [c.hottest_c if c else None for c in (r.before, r.after)]
            rows.append(
                (
                    f"{cell.mode}/{cell.backend}",
                    f"{r.kind} {r.repeat}",
                    str(r.position),
                    f"{r.median_ms:.3f}",
                    " -> ".join("?" if t is None else f"{t:.1f}" for t in hot),
                    " -> ".join(str(c.thermal_status) if c else "?" for c in (r.before, r.after)),
                    f"{r.cooled_s:.0f}",
                    r.throttled or "-",
                )
            )
    if not rows:
        return None
    header = (
        "cell",
        "repeat",
        "position",
        "median (ms)",
        "hottest CPU zone (C)",
        "thermal status",
        "cooled (s)",
        "throttled",
    )
    return Table("Repeats in the order they ran", header, tuple(sorted(rows, key=lambda row: int(row[2]))))


def cross_device(run: RunRecord) -> Table | None:
    """A farm run at a glance: one row per device, p50 latency (ms) and top-1 per mode x backend.
    Cells without a number say why in the per-device tables' footnotes."""
    serials = sorted({c.device for c in run.cells})
    if len(serials) < 2:
        return None
    modes, backends = modes_backends(list(run.cells), run)
    grid = {c.key: c for c in run.cells}
    columns = [(m, b) for m in modes for b in backends if any((s, m, b) in grid for s in serials)]
    rows = []
    for serial in serials:
        device = next((d for d in run.devices if d.serial == serial), None)
        row = [f"{device.model} ({serial})" if device else serial]
        for mode, backend in columns:
            cell = grid.get((serial, mode, backend))
            if cell is None:
                row.append("not run")
            elif not cell.ok:
                row.append(cell.status)
            else:
                latency = f"{cell.result.latency.p50:.3f}" if cell.result.latency else "-"
                top1 = f" / {_pct(cell.result.accuracy.top1)}" if cell.result.accuracy else ""
                row.append(latency + top1)
        rows.append(tuple(row))
    header = ("device", *(f"{m}/{b}" for m, b in columns))
    return Table("Across devices: p50 latency (ms) / top-1", header, tuple(rows))


def build_tables(run: RunRecord) -> list[RunTables]:
    return [device_tables(run, serial) for serial in sorted({c.device for c in run.cells})]


def device_line(run: RunRecord, serial: str) -> str:
    device = next((d for d in run.devices if d.serial == serial), None)
    if device is None:
        return serial
    emulated = ", emulated" if device.emulated else ""
    via = f" via {device.adb_serial}" if device.adb_serial and device.adb_serial != serial else ""
    via += f", agent started by {device.launcher}" if device.launcher else ""
    return (
        f"{device.model} ({device.abi}, SDK {device.sdk}, {device.cores} cores{emulated}) - "
        f"{device.runtime} {device.runtime_version} - serial {serial}{via}"
    )
