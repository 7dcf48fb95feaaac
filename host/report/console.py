"""Console tables, drawn with rich."""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table

from host.bench.views import DEFAULT_TABLES
from host.codec import encode
from host.convert.records import ConversionReport
from host.quant.pareto import Recommendation
from host.report.tables import Table as TableSpec
from host.results import RunRecord

if TYPE_CHECKING:  # the device layer imports adbutils; reports need not
    from host.devices.launch.doctor import Diagnosis
    from host.devices.selection.resolve import Attached
    from host.gate.verdicts import Verdicts

# Logs and CI captures are not terminals: give them room instead of rich's 80 columns.
CONSOLE = Console(width=None if sys.stdout.isatty() or "COLUMNS" in os.environ else 160)
_console = CONSOLE


def _size(n: int) -> str:
    return f"{n:,}"


def print_conversion(report: ConversionReport, console: Console = _console) -> None:
    """Size per mode with the ratio to ``none``, dtypes, seconds, and every failure's reason."""
    table = Table(title=f"Conversion of {report.model.name} (input {list(report.model.input_shape)})")
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
    if report.calibration and report.calibration.skipped_files:
        console.print(f"calibration: {report.calibration.skipped_files} unreadable image(s) skipped")
    console.print(f"manifest: {report.manifest_path}")


def print_devices(rows: list[Attached], console: Console = _console) -> None:
    table = Table(title="Devices")
    for column in ("serial", "state", "model", "abi", "sdk", "soc", "note"):
        table.add_column(
            column,
            no_wrap=column in ("serial", "state"),
            min_width=max((len(r.serial) for r in rows), default=6) if column == "serial" else None,
        )
    for row in rows:
        p = row.props
        table.add_row(
            row.serial,
            row.state,
            p.model if p else "-",
            p.abi if p else "-",
            str(p.sdk) if p else "-",
            (p.soc or "-") if p else "-",
            row.note,
        )
    if not rows:
        console.print("no devices: connect a phone with USB debugging on, or run 'host emulator start'")
        return
    console.print(table)


def print_doctor(diagnosis: Diagnosis, console: Console = _console) -> None:
    """The launchers (which works, what each found, the fix), then the chosen one's checks or the advice."""
    console.print(f"device: {diagnosis.device}", highlight=False)
    table = Table(title="Launchers (how the agent is started)", title_justify="left")
    for column in ("launcher", "status", "found", "fix"):
        table.add_column(column)
    for launcher in diagnosis.launchers:
        status = "[green]works[/green]" if launcher.ok else "[red]no[/red]"
        table.add_row(launcher.name, status, launcher.found, "" if launcher.ok else launcher.fix)
    console.print(table)
    if diagnosis.chosen is None:
        console.print(diagnosis.advice, markup=False, highlight=False)
        return
    console.print(f"launcher used: {diagnosis.chosen}", highlight=False)
    if diagnosis.checks:
        table = Table(title=f"What the agent needs, under {diagnosis.chosen}", title_justify="left")
        for column in ("check", "status", "found", "fix"):
            table.add_column(column)
        for check in diagnosis.checks:
            table.add_row(
                check.name,
                "[green]ok[/green]" if check.ok else "[red]missing[/red]",
                check.found,
                "" if check.ok else check.fix,
            )
        console.print(table)


def _print_table(spec: TableSpec, console: Console) -> None:
    table = Table(title=spec.title, title_justify="left")
    for i, column in enumerate(spec.header):
        table.add_column(column, justify="left" if i == 0 else "right")
    for row in spec.rows:
        table.add_row(
            *[
                f"[red]{v}[/red]"
                if v.startswith(("failed", "numerics"))
                else f"[yellow]{v}[/yellow]"
                if v.startswith(("unavailable", "fallback"))
                else v
                for v in row
            ]
        )
    console.print(table)


def print_run(run: RunRecord, console: Console = _console, tables: tuple[str, ...] = DEFAULT_TABLES) -> None:
    """The summary (the seed's table in one), footnotes for every cell that has no number, the
    accelerators and the fingerprint in a line each; ``tables`` adds the others and every line
    about how the run was measured."""
    from host.bench.views import TABLE_NAMES
    from host.report.tables import build_tables, console_reason, cross_device, device_line

    console.print(
        f"[bold]{run.model.name}[/bold] run {run.run_id} - dataset {run.dataset.name or 'none'} "
        f"({run.dataset.count} images)"
    )
    detailed = tables != DEFAULT_TABLES
    sections = build_tables(run)
    for section in sections:
        console.print(f"device: {device_line(run, section.device)}")
        for spec in section.chosen(tables):
            _print_table(spec, console)
        for line in section.folded:
            console.print(line, markup=False, highlight=False)
        for i, reason in enumerate(section.footnotes, 1):
            console.print(f"[{i}] {console_reason(reason)}", markup=False, highlight=False)
        for line in section.lines if detailed else section.headline:
            console.print(line, markup=False, highlight=False)
    farm = cross_device(run)
    if farm is not None:
        _print_table(farm, console)
    for note in run.notes:
        console.print(f"note: {note}", markup=False, highlight=False)
    stats = encode(run.stats)
    if any(stats.values()):
        console.print("this run: " + ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in stats.items()), highlight=False)
    if not detailed:
        shown = {t.name for section in sections for t in section.chosen(tables)}
        others = [name for name in TABLE_NAMES if name not in shown and name != "summary"]
        console.print(f"other tables ({', '.join(others)}): --tables all, or name them", highlight=False)


def print_verdicts(verdicts: Verdicts, inconclusive: str, console: Console = _console) -> None:
    """Every check the gate made, regressions first, the warnings, and a one-line summary."""
    from host.gate.output import ranked, summary
    from host.gate.stats import INCONCLUSIVE, REGRESSED

    colour = {REGRESSED: "[red]REGRESSED[/red]", INCONCLUSIVE: "[yellow]inconclusive[/yellow]"}
    table = Table(title=f"{verdicts.current} against baseline {verdicts.baseline}", title_justify="left")
    for column in ("device", "mode", "backend", "check", "baseline", "current", "verdict", "detail"):
        table.add_column(column)
    for f in ranked(verdicts.findings):
        table.add_row(
            f.device,
            f.mode,
            f.backend,
            f.check,
            f.baseline,
            f.current,
            colour.get(f.verdict, "[green]no regression[/green]"),
            f.detail,
        )
    console.print(table)
    for warning in verdicts.warnings:
        console.print(f"warning: {warning}", markup=False, highlight=False)
    undecided = verdicts.count(INCONCLUSIVE)
    policy = (
        f" (--inconclusive {inconclusive}: {'they fail' if inconclusive == 'fail' else 'they do not fail'} the gate)"
    )
    console.print(summary(verdicts) + (policy if undecided else ""), highlight=False)


def print_recommendation(recommendation: Recommendation, console: Console = _console) -> None:
    """The measured builds (front marked), what the limits excluded, and the pick with its reason."""
    from host.quant.pareto import SNR, TASK, metric_name
    from host.report.tables import snr_text

    snr, task = recommendation.metric == SNR, recommendation.metric == TASK
    quality = (
        "worst-output SNR"
        if snr
        else metric_name(TASK, recommendation.builds).removesuffix(" (%)")
        if task
        else "top-1"
    )
    table = Table(
        title=f"Builds measured on {recommendation.device or '-'} (* on the Pareto front: {quality}, latency, size)"
    )
    for column in ("build", quality, "p50 (ms)", "size (MB)", "front", "excluded by"):
        table.add_column(column, justify="right" if column in (quality, "p50 (ms)", "size (MB)") else "left")
    front = set(recommendation.front)
    for build in sorted(recommendation.builds, key=lambda b: b.p50_ms):
        value = build.quality(recommendation.metric) if task else build.top1
        shown = snr_text(build.snr_db) if snr else "n/a" if value is None else f"{value:.1f}%"
        table.add_row(
            build.label,
            shown,
            f"{build.p50_ms:.3f}",
            f"{build.size_mb:.2f}",
            "*" if build in front else "",
            recommendation.excluded.get(build.label, ""),
            style="bold green" if build == recommendation.pick else None,
        )
    console.print(table)
    console.print(("recommended: " if recommendation.pick else "no recommendation: ") + recommendation.reason)
