"""Console tables, drawn with rich."""

from __future__ import annotations

import os
import sys

from rich.console import Console
from rich.table import Table

from host.convert.converter import ConversionReport

# Logs and CI captures are not terminals: give them room instead of rich's 80 columns.
_console = Console(width=None if sys.stdout.isatty() or "COLUMNS" in os.environ else 160)


def _size(n: int) -> str:
    return f"{n:,}"


def print_conversion(report: ConversionReport, console: Console = _console) -> None:
    """Size per mode with the ratio to ``none``, dtypes, seconds, and every failure's reason."""
    table = Table(title=f"Conversion of {report.model['name']} (input {report.model['input_shape']})")
    for column in ("mode", "size (bytes)", "vs none", "input", "output", "seconds", "status"):
        table.add_column(column, justify="right" if column in ("size (bytes)", "vs none", "seconds") else "left")
    base = next((r.size_bytes for r in report.results if r.mode == "none" and r.ok), None)
    for r in report.results:
        if r.ok and r.size_bytes is not None:
            ratio = f"{r.size_bytes / base:.2f}x" if base else "-"
            status = "cached" if r.cached else "converted"
            if r.notes:
                status += " (" + "; ".join(r.notes) + ")"
            table.add_row(r.mode, _size(r.size_bytes), ratio, r.input_dtype, r.output_dtype, f"{r.seconds:.2f}", status)
        else:
            table.add_row(r.mode, "-", "-", "-", "-", f"{r.seconds:.2f}", f"[red]failed[/red]: {r.error}")
    for mode, reason in report.skipped.items():
        table.add_row(mode, "-", "-", "-", "-", "-", f"[yellow]skipped[/yellow]: {reason}")
    console.print(table)
    if report.calibration and report.calibration["skipped_files"]:
        console.print(f"calibration: {report.calibration['skipped_files']} unreadable image(s) skipped")
    console.print(f"manifest: {report.manifest_path}")


def print_devices(rows, console: Console = _console) -> None:  # type: ignore[no-untyped-def]
    table = Table(title="Devices")
    for column in ("serial", "state", "model", "abi", "sdk", "soc", "note"):
        table.add_column(column, no_wrap=column in ("serial", "state"), min_width=max((len(r.serial) for r in rows), default=6) if column == "serial" else None)
    for row in rows:
        p = row.props
        table.add_row(row.serial, row.state, p.model if p else "-", p.abi if p else "-", str(p.sdk) if p else "-",
                      (p.soc or "-") if p else "-", row.note)
    if not rows:
        console.print("no devices: connect a phone with USB debugging on, or run 'host emulator start'")
        return
    console.print(table)


def print_doctor(checks, console: Console = _console) -> None:  # type: ignore[no-untyped-def]
    table = Table(title="Device check")
    for column in ("check", "status", "found", "fix"):
        table.add_column(column)
    for check in checks:
        status = "[green]ok[/green]" if check.ok else "[red]missing[/red]"
        table.add_row(check.name, status, check.found, "" if check.ok else check.fix)
    console.print(table)
