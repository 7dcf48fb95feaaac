"""The seed post's three tables (size, accuracy, latency) plus fidelity and delegation, as data.

Console, Markdown and HTML all render these; a cell that was not measured never shows a number:
it shows ``unavailable [n]`` or ``failed [n]`` with its reason as footnote n.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from host.results import CellRecord, RunRecord


@dataclass
class Footnotes:
    reasons: list[str] = field(default_factory=list)

    def mark(self, cell: CellRecord) -> str:
        reason = cell.error or cell.status
        if reason not in self.reasons:
            self.reasons.append(reason)
        return f"{cell.status} [{self.reasons.index(reason) + 1}]"


@dataclass(frozen=True)
class Table:
    title: str
    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


@dataclass(frozen=True)
class RunTables:
    device: str
    tables: tuple[Table, ...]
    footnotes: tuple[str, ...]


def modes_backends(cells: list[CellRecord], run: RunRecord) -> tuple[list[str], list[str]]:
    """The run's modes and backends that have cells here, in the run's order."""
    modes = [m for m in run.modes if any(c.mode == m for c in cells)]
    backends = [b for b in run.backends if any(c.backend == b for c in cells)]
    return modes or sorted({c.mode for c in cells}), backends or sorted({c.backend for c in cells})


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}%"


def _accuracy(run: RunRecord, cell: CellRecord) -> str:
    accuracy = cell.result.accuracy
    if accuracy is None:
        return "n/a (no labels)" if run.dataset.sha256 else "n/a (no dataset)"
    return f"{_pct(accuracy.top1)} / {_pct(accuracy.top3)}"


def _latency(run: RunRecord, cell: CellRecord) -> str:
    latency = cell.result.latency
    return "-" if latency is None else f"{latency.p50:.3f} ±{latency.std:.3f}"


def _fidelity(run: RunRecord, cell: CellRecord) -> str:
    if (cell.mode, cell.backend) == ("none", "cpu1"):
        return "reference"
    fidelity = cell.result.fidelity
    if fidelity is None:
        return "n/a"
    return f"{_pct(fidelity.top1_agreement)} / {fidelity.mean_abs_error:.4f}"


def _delegation(run: RunRecord, cell: CellRecord) -> str:
    d = cell.result.delegation
    if d is None:
        return "-"
    text = f"{d.delegated_nodes}/{d.total_nodes} {d.delegate}".strip()
    return text + (": fallback, nothing delegated" if d.delegated_nodes == 0 else "")


GRIDS: tuple[tuple[str, Callable[[RunRecord, CellRecord], str]], ...] = (
    ("Accuracy top-1 / top-3 ({count} images)", _accuracy),
    ("Latency p50 ±std (ms)", _latency),
    ("Fidelity vs none/cpu1: top-1 agreement / mean abs error", _fidelity),
    ("Delegation: nodes taken by the delegate / all nodes", _delegation),
)


def _size_cells(size: int | None, base: int | None) -> tuple[str, str]:
    if not size:
        return "-", "-"
    return f"{size:,}", f"{size / base:.3f}" if base else "-"


def device_tables(run: RunRecord, serial: str) -> RunTables:
    """The tables for one device; every cell without a number points at its footnote."""
    cells = [c for c in run.cells if c.device == serial]
    modes, backends = modes_backends(cells, run)
    grid = {(c.mode, c.backend): c for c in cells}
    notes = Footnotes()
    sizes = {m: next((c.size_bytes for c in cells if c.mode == m and c.size_bytes), None) for m in modes}
    base = sizes.get("none")
    size_rows = tuple((m, *_size_cells(sizes[m], base)) for m in modes)
    tables = [Table("Model size", ("mode", "bytes", "vs none"), size_rows)]
    for title, render in GRIDS:
        rows = []
        for mode in modes:
            row = [mode]
            for backend in backends:
                cell = grid.get((mode, backend))
                row.append("not run" if cell is None else render(run, cell) if cell.status == "ok" else notes.mark(cell))
            rows.append(tuple(row))
        tables.append(Table(title.format(count=run.dataset.count), ("mode", *backends), tuple(rows)))
    return RunTables(serial, tuple(tables), tuple(notes.reasons))


def build_tables(run: RunRecord) -> list[RunTables]:
    return [device_tables(run, serial) for serial in sorted({c.device for c in run.cells})]


def device_line(run: RunRecord, serial: str) -> str:
    device = next((d for d in run.devices if d.serial == serial), None)
    if device is None:
        return serial
    emulated = ", emulated" if device.emulated else ""
    via = f" via {device.adb_serial}" if device.adb_serial and device.adb_serial != serial else ""
    via += f", agent started by {device.launcher}" if device.launcher else ""
    return (f"{device.model} ({device.abi}, SDK {device.sdk}, {device.cores} cores{emulated}) - "
            f"{device.runtime} {device.runtime_version} - serial {serial}{via}")
