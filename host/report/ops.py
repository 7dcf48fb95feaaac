"""``host report RUN --ops``: each profiled node's share of its cell's invoke, as text.

One row per cell and node, slowest first: the op as the runtime names it, the Keras layer it came
from, what ran it, runs, mean and total ms, and its share of the profiled invokes. The time the
profiler saw between nodes (the runtime's own work and the profiler's) is a row of its own, so a
cell's shares add up to its invoke without any node being inflated. Cells without a profile are
named once each with the reason, never given a figure.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import asdict, dataclass

from device_agent.contract import OpProfile, OpTime
from host.bench.op_layers import is_partition
from host.errors import InputError
from host.results import CellRecord, RunRecord

BETWEEN_NODES = "(between nodes: runtime and profiler)"
HEADER = ("cell", "op", "layer", "ran on", "runs", "mean ms", "total ms", "share")


@dataclass(frozen=True)
class OpRow:
    cell: str
    op: str
    layer: str
    ran_on: str
    runs: int
    mean_ms: float
    total_ms: float
    share: float  # of the cell's profiled invokes


def ran_on(profile: OpProfile, op: OpTime) -> str:
    """XNNPACK for its own nodes; the accelerator for a dispatch node; the CPU kernels otherwise."""
    if op.source == "delegate":
        return "XNNPACK" if "CPU" in profile.engine else profile.engine.rsplit(", ", 1)[-1]
    if is_partition(op.name):
        return profile.engine.rsplit(", ", 1)[-1] + " (the accelerator's whole partition)"
    return "CPU (TFLite kernel)"


def cell_rows(cell: CellRecord, with_device: bool = False) -> list[OpRow]:
    profile = cell.result.op_profile
    if profile is None or not profile.ops or profile.invoke_ms <= 0:
        return []
    name = f"{cell.device} {cell.mode}/{cell.backend}" if with_device else f"{cell.mode}/{cell.backend}"
    layers = cell.op_layers if len(cell.op_layers) == len(profile.ops) else ("",) * len(profile.ops)
    rows = [
        OpRow(
            name,
            op.name,
            layer,
            ran_on(profile, op),
            op.runs,
            op.total_ms / max(op.runs, 1),
            op.total_ms,
            op.total_ms / profile.invoke_ms,
        )
        for op, layer in zip(profile.ops, layers, strict=True)
    ]
    between = profile.invoke_ms - sum(op.total_ms for op in profile.ops)
    if between > 0:
        rows.append(
            OpRow(
                name,
                BETWEEN_NODES,
                "",
                profile.engine,
                profile.runs,
                between / max(profile.runs, 1),
                between,
                between / profile.invoke_ms,
            )
        )
    return sorted(rows, key=lambda row: -row.total_ms)


def _selected(run: RunRecord, cell: str | None) -> list[CellRecord]:
    cells = [c for c in run.cells if c.ok]
    if cell is None:
        return cells
    chosen = [c for c in cells if f"{c.mode}/{c.backend}" == cell]
    if not chosen:
        known = ", ".join(sorted({f"{c.mode}/{c.backend}" for c in cells})) or "none"
        raise InputError(f"--cell {cell}: no measured cell of that name in run {run.run_id} (cells: {known})")
    return chosen


def op_table(run: RunRecord, cell: str | None = None, top: int | None = None) -> tuple[list[OpRow], list[str]]:
    """The rows (the ``top`` slowest per cell) and one note per cell without a profile."""
    rows: list[OpRow] = []
    notes: list[str] = []
    several = len({c.device for c in run.cells}) > 1  # a farm's run: the same cell on each device
    for record in _selected(run, cell):
        found = cell_rows(record, several)
        profile = record.result.op_profile
        if found:
            rows += found[:top] if top else found
            engine = profile.engine if profile else ""
            notes.append(
                f"{record.mode}/{record.backend}: {profile.runs if profile else 0} profiled invokes on {engine}, "
                "after the timed samples"
            )
        else:
            reason = profile.note if profile and profile.note else _why_none(run)
            notes.append(f"{record.mode}/{record.backend}: {reason}")
    return rows, notes


def _why_none(run: RunRecord) -> str:
    if "op_profile" not in run.config:
        return "no per-op profile: this run was measured before profiles were taken"
    return (
        "no per-op profile: the run was measured with --no-op-profile"
        if not run.config["op_profile"]
        else "no per-op profile came back for this cell"
    )


def _cells(row: OpRow) -> tuple[str, ...]:
    return (
        row.cell,
        row.op,
        row.layer or "-",
        row.ran_on,
        str(row.runs),
        f"{row.mean_ms:.4f}",
        f"{row.total_ms:.3f}",
        f"{100 * row.share:.1f}%",
    )


def render_ops(run: RunRecord, fmt: str, cell: str | None = None, top: int | None = None) -> str:
    """The per-op table as Markdown (also for ``table``), CSV or JSON."""
    rows, notes = op_table(run, cell, top)
    if fmt == "json":
        return json.dumps({"run_id": run.run_id, "ops": [asdict(r) for r in rows], "notes": notes}, indent=2) + "\n"
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(("cell", "op", "layer", "ran_on", "runs", "mean_ms", "total_ms", "share"))
        writer.writerows(
            (r.cell, r.op, r.layer, r.ran_on, r.runs, round(r.mean_ms, 6), round(r.total_ms, 6), round(r.share, 6))
            for r in rows
        )
        return out.getvalue()
    if fmt not in ("md", "table"):
        raise InputError(
            f"--ops prints table, md, csv or json, not {fmt}; the HTML report (--format html without --ops) "
            "draws the per-op charts"
        )
    lines = [
        f"## Per-op profile - run {run.run_id}",
        "",
        "| " + " | ".join(HEADER) + " |",
        "|" + "|".join("---" for _ in HEADER) + "|",
    ]
    lines += ["| " + " | ".join(c.replace("|", "\\|") for c in _cells(r)) + " |" for r in rows]
    return "\n".join([*lines, "", *[f"- {note}" for note in notes]]) + "\n"
