"""Console tables, drawn with rich."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from host.convert.converter import ConversionReport

_console = Console()


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
