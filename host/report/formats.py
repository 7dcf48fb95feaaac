"""Run reports as text: JSON (the design's contract), CSV (one row per cell), Markdown."""

from __future__ import annotations

import csv
import io
import json

from host.bench.views import TABLE_NAMES
from host.report.tables import RunTables, build_tables, cross_device, device_line
from host.results import RunRecord, run_json

CSV_COLUMNS = (
    "run_id",
    "device",
    "mode",
    "backend",
    "status",
    "error",
    "size_bytes",
    "latency_init_ms",
    "warm_init_ms",
    "latency_first_ms",
    "latency_mean_ms",
    "latency_std_ms",
    "latency_min_ms",
    "latency_p50_ms",
    "latency_p90_ms",
    "latency_p95_ms",
    "latency_p99_ms",
    "latency_max_ms",
    "latency_count",
    "init_rss_mb",
    "peak_rss_mb",
    "baseline_rss_mb",
    "init_delta_mb",
    "peak_delta_mb",
    "delegated_nodes",
    "total_nodes",
    "top1",
    "top3",
    "top5",
    "accuracy_count",
    "top1_agreement",
    "mean_abs_error",
    "max_abs_error",
    "worst_snr_db",
    "energy_source",
    "energy_mj_per_inference",
    "energy_ci_low_mj",
    "energy_ci_high_mj",
    "energy_below_resolution",
    "energy_emulated",
)


def to_json(run: RunRecord) -> str:
    return json.dumps(run_json(run), indent=2) + "\n"


def to_csv(run: RunRecord) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for cell in run_json(run)["cells"]:
        lat = cell["latency_ms"] or {}
        mem = cell["memory_mb"] or {}
        dlg = cell["delegation"] or {}
        acc = cell["accuracy"] or {}
        fid = cell["fidelity"] or {}
        start = cell["start"] or {}
        energy = cell["energy"] or {}
        writer.writerow(
            [
                run.run_id,
                cell["device"],
                cell["mode"],
                cell["backend"],
                cell["status"],
                cell["error"] or "",
                cell["size_bytes"],
                lat.get("init"),
                start.get("warm_init_ms"),
                *(lat.get(k) for k in ("first", "mean", "std", "min", "p50", "p90", "p95", "p99", "max", "count")),
                mem.get("init_rss"),
                mem.get("peak_rss"),
                mem.get("baseline_rss"),
                mem.get("init_delta"),
                mem.get("peak_delta"),
                dlg.get("delegated_nodes"),
                dlg.get("total_nodes"),
                acc.get("top1"),
                acc.get("top3"),
                acc.get("top5"),
                acc.get("count"),
                fid.get("top1_agreement"),
                fid.get("mean_abs_error"),
                fid.get("max_abs_error"),
                fid.get("snr_db"),
                energy.get("source"),
                *(energy.get(k) for k in ("mj_per_inference", "ci_low", "ci_high", "below_resolution", "emulated")),
            ]
        )
    return out.getvalue()


def _md_table(header: tuple[str, ...], rows: tuple[tuple[str, ...], ...]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def to_markdown(run: RunRecord, sections: list[RunTables] | None = None, tables: tuple[str, ...] = TABLE_NAMES) -> str:
    parts = [
        f"## {run.model.name} - run {run.run_id}",
        "",
        f"Dataset: {run.dataset.name or 'none'} ({run.dataset.count} images). Started {run.started}.",
    ]
    for section in sections or build_tables(run):
        parts += ["", f"**Device:** {device_line(run, section.device)}"]
        for table in section.chosen(tables):
            parts += ["", f"**{table.title}**", "", _md_table(table.header, table.rows)]
        parts += [line for text in section.folded for line in ("", text)]
        for i, reason in enumerate(section.footnotes, 1):
            parts += ["", f"[{i}] {reason}"]  # a paragraph each, or Markdown runs them together
        parts += [line for text in section.lines for line in ("", text)]
    farm = cross_device(run)
    if farm is not None:
        parts += ["", f"**{farm.title}**", "", _md_table(farm.header, farm.rows)]
    if run.notes:
        parts += ["", "Notes:"] + [f"- {note}" for note in run.notes]
    return "\n".join(parts) + "\n"


def outputs_text(run: RunRecord, format: str) -> str:
    """Every output's fidelity per cell (``host report --outputs``): Markdown tables, or the JSON
    contract's ``fidelity.outputs`` per cell, or CSV rows."""
    from host.report.tables import output_fidelity_table

    tables = {serial: output_fidelity_table(run, serial) for serial in sorted({c.device for c in run.cells})}
    if format == "json":
        cells = [
            {
                "device": c["device"],
                "mode": c["mode"],
                "backend": c["backend"],
                "outputs": (c["fidelity"] or {}).get("outputs"),
            }
            for c in run_json(run)["cells"]
        ]
        return json.dumps(cells, indent=2) + "\n"
    if format == "csv":
        out = io.StringIO()
        writer = csv.writer(out)
        header = next((t.header for t in tables.values() if t is not None), ())
        writer.writerow(("device", *header))
        for serial, table in tables.items():
            writer.writerows((serial, *row) for row in (table.rows if table else ()))
        return out.getvalue()
    parts = []
    for serial, table in tables.items():
        parts += [
            f"**{table.title if table else 'Fidelity of every output'} on {serial}**",
            "",
            _md_table(table.header, table.rows) if table else "no cell was compared with the reference",
            "",
        ]
    return "\n".join(parts)


def _html(run: RunRecord) -> str:
    from host.report.html import to_html

    return to_html(run)


RENDERERS = {"md": to_markdown, "json": to_json, "csv": to_csv, "html": _html}
