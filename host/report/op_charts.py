"""The HTML report's per-op charts: where each cell's invoke goes by op type, and a layer's time
across builds (where ``integer`` won over ``none``, where ``int16x8`` lost tens of times).

Both read the per-op profile stored with each cell (``host/report/ops.py`` has the rows); cells
without one are simply not drawn, and the report's notes say why for each.
"""

from __future__ import annotations

import re
from collections import defaultdict

from host.report.figures import png, pyplot, wide_span
from host.report.ops import BETWEEN_NODES, OpRow, cell_rows
from host.results import CellRecord

TOP_LAYERS = 12


def op_type(row: OpRow) -> str:
    """``Convolution (NHWC, QC8) DWConv`` -> ``Convolution DWConv``; TFLite's own names as they are."""
    if row.op == BETWEEN_NODES:
        return "between nodes"
    return re.sub(r"\s+", " ", re.sub(r"\([^)]*\)", " ", row.op)).strip()


def op_type_chart(cells: list[CellRecord]) -> str | None:
    """One stacked bar per profiled cell: its mean invoke split by op type."""
    per_cell = {f"{c.mode}/{c.backend}": cell_rows(c) for c in cells}
    per_cell = {name: rows for name, rows in per_cell.items() if rows}
    if not per_cell:
        return None
    kinds = sorted(
        {op_type(r) for rows in per_cell.values() for r in rows},
        key=lambda k: -sum(r.total_ms for rows in per_cell.values() for r in rows if op_type(r) == k),
    )
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(9, 1.2 + 0.35 * len(per_cell)))
    names = list(per_cell)
    left = [0.0] * len(names)
    for kind in kinds:
        widths = [sum(r.mean_ms for r in per_cell[name] if op_type(r) == kind) for name in names]
        ax.barh(names, widths, left=left, label=kind)
        left = [a + b for a, b in zip(left, widths, strict=True)]
    ax.invert_yaxis()
    ax.set_xlabel("ms per profiled invoke")
    ax.set_title("Where each cell's invoke goes, by op type (profile pass after the timed samples)")
    ax.legend(fontsize=7, loc="lower right", ncol=2)
    fig.tight_layout()
    return png(fig)


def layer_chart(cells: list[CellRecord], backend: str) -> str | None:
    """The slowest layers' mean time per invoke in each build on one backend."""
    per_build: dict[str, dict[str, float]] = {}
    for cell in cells:
        if cell.backend != backend:
            continue
        times: dict[str, float] = defaultdict(float)
        for row in cell_rows(cell):
            if row.layer:
                times[row.layer] += row.mean_ms
        if times:
            per_build[cell.mode] = dict(times)
    if len(per_build) < 2:
        return None
    layers = sorted(
        {layer for times in per_build.values() for layer in times},
        key=lambda layer: -max(times.get(layer, 0.0) for times in per_build.values()),
    )[:TOP_LAYERS]
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(9, 1.5 + 0.22 * len(layers) * len(per_build)))
    height = 0.8 / len(per_build)
    for offset, (mode, times) in enumerate(per_build.items()):
        ax.barh(
            [i + offset * height for i in range(len(layers))],
            [times.get(layer, 0.0) for layer in layers],
            height=height,
            label=mode,
        )
    ax.set_yticks([i + 0.4 - height / 2 for i in range(len(layers))], layers)
    ax.invert_yaxis()
    values = [v for times in per_build.values() for v in times.values() if v > 0]
    if wide_span(values):
        ax.set_xscale("log")
    ax.set_xlabel("ms per profiled invoke")
    ax.set_title(f"The {len(layers)} slowest layers on {backend}, build by build")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return png(fig)


def op_charts(cells: list[CellRecord]) -> list[tuple[str, str, str]]:
    """(chart id, caption, base64 PNG) of the per-op charts this device's cells allow."""
    out = []
    types = op_type_chart(cells)
    if types:
        out.append(("chart-op-types", "per-op profile: each cell's invoke by op type", types))
    backend = next((b for b in ("cpu1", "cpu4") if any(c.backend == b and cell_rows(c) for c in cells)), None)
    layers = layer_chart(cells, backend) if backend else None
    if layers and backend:
        out.append(("chart-layers", f"per-op profile: the slowest layers' time on {backend} in each build", layers))
    return out
