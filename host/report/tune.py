"""``host tune`` shown: every candidate the device measured, the pick, and what each float layer costs."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

    from rich.console import Console

    from host.quant.precisions import PrecisionResult
    from host.quant.tune import Candidate, TuneResult


def _value(value: float | None, unit: str) -> str:
    return "-" if value is None else f"{value:.3f}{unit}" if unit == " ms" else f"{value:.1f}{unit}"


def candidate_rows(result: TuneResult) -> list[tuple[str, ...]]:
    def row(c: Candidate) -> tuple[str, ...]:
        mark = " <- chosen" if c is result.chosen else ""
        return (
            c.step,
            c.name + mark,
            "all" if c.step == "reference" else str(len(c.keep)),
            _value(c.top1, "%"),
            _value(c.p50_ms, " ms"),
            f"{c.size_bytes / 1e6:.3f}",
            c.error or ("meets" if c.top1 is not None and c.top1 >= result.target - 1e-9 else "-"),
        )

    order = {"reference": 0, "base": 1, "single": 2, "pair": 3, "cumulative": 4, "prune": 5}
    return [row(c) for c in sorted(result.candidates, key=lambda c: order.get(c.step, 9))]


def print_tune(result: TuneResult, console: Console | None = None) -> None:
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    table = Table(title=f"Candidates measured on the device (target top-1 >= {result.target:.2f}%)")
    for column in ("step", "build", "float ops", "top-1", "p50", "size (MB)", "target"):
        table.add_column(column, justify="right" if column in ("float ops", "top-1", "p50", "size (MB)") else "left")
    for row in candidate_rows(result):
        table.add_row(*row)
    console.print(table)
    chosen, base, reference = result.chosen, result.base, result.reference
    verdict = "target met" if result.met else f"target NOT met: {result.stopped}"
    console.print(
        f"float {reference.top1}%, integer {base.top1}%, chosen {chosen.name}: {chosen.top1}% ({verdict}); "
        f"{result.device_seconds / 60:.1f} min of device time"
    )
    if result.device_time is not None:
        for error in [e for e in result.ranked if e.suspect][:6]:
            console.print(
                f"  {error.layer}: {error.signal_lost:.0%} signal lost, {result.device_time.describe(error.layer)} "
                "(integer build, per-op profile)"
            )
        if result.device_time.note:
            console.print(f"  device time by layer: {result.device_time.note}")
    for layer, latency, size in result.layer_costs():
        cost = f"{latency:+.3f} ms p50" if latency is not None else "latency not measured alone"
        console.print(f"  keeping {layer} in float costs {cost}, {size / 1e3:+.1f} KB")
    if chosen is not base and chosen.p50_ms is not None and base.p50_ms is not None:
        console.print(
            f"  in all: {chosen.p50_ms - base.p50_ms:+.3f} ms p50 and "
            f"{(chosen.size_bytes - base.size_bytes) / 1e3:+.1f} KB "
            f"over the integer build, {reference.size_bytes / max(1, chosen.size_bytes):.2f}x smaller than float"
        )
    if result.out:
        console.print(
            f"tuned build folder: {result.out} (manifest.json names the kept layers; bench it with "
            f"'host bench --model {result.out}'); every candidate: {result.out / 'tune.json'}"
        )


def print_precisions(result: PrecisionResult, out: Path, console: Console | None = None) -> None:
    """``host tune --precisions``: every plan measured, the layers' chosen precisions, the pick."""
    from collections import Counter

    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    table = Table(title=f"Precision plans measured on the device (target top-1 >= {result.target:.2f}%)")
    for column in ("step", "build", "above " + result.lowest, "top-1", "p50", "size (MB)", "target"):
        table.add_column(column, justify="left" if column in ("step", "build", "target") else "right")
    for plan in result.plans:
        meets = plan.top1 is not None and plan.top1 >= result.target - 1e-9
        table.add_row(
            plan.step,
            plan.name + (" <- chosen" if plan is result.chosen else ""),
            "all" if plan.step == "reference" else str(len(plan.precisions)),
            _value(plan.top1, "%"),
            _value(plan.p50_ms, " ms"),
            f"{plan.size_bytes / 1e6:.3f}",
            plan.error or ("meets" if meets else "-"),
        )
    console.print(table)
    counts = Counter(precision for _, precision in result.layers)
    verdict = "target met" if result.met else f"target NOT met: {result.stopped}"
    console.print(
        f"float {result.reference.top1}%, chosen {result.chosen.name}: {result.chosen.top1}% ({verdict}); "
        + ", ".join(f"{n} layer(s) {p}" for p, n in sorted(counts.items()))
        + f"; {result.device_seconds / 60:.1f} min of "
        "device time"
    )
    for layer, precision in result.layers:
        if precision != result.lowest:
            console.print(f"  {layer}: {precision}")
    console.print(
        f"tuned build folder: {out} (bench it with 'host bench --model {out}'; its recipe, for host convert "
        f"--recipe: {out / 'tuned_precisions_recipe.json'}); every plan: {out / 'tune.json'}"
    )
