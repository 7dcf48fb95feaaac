"""Energy per inference in the tables: one figure per cell with its 95% interval, the method in
one line, and a device without any meter said once, with the reason."""

from __future__ import annotations

from host.results import CellRecord, EnergyRecord

TITLE = "Energy per inference (mJ, mean of the repeats, +/- half its 95% interval)"


def energy_text(energy: EnergyRecord) -> str:
    """One cell's energy in words: the figure and its interval, "below resolution", or why none."""
    if energy.mj_per_inference is None or energy.ci_low is None or energy.ci_high is None:
        return f"no figure: {energy.note}" if energy.note else "no figure"
    if energy.below_resolution:
        return (
            f"below resolution ({energy.mj_per_inference:.4f} mJ, 95% interval "
            f"{energy.ci_low:.4f}..{energy.ci_high:.4f}, wider than the figure)"
        )
    return f"{energy.mj_per_inference:.4f} mJ/inference (95% {energy.ci_low:.4f}..{energy.ci_high:.4f})"


def energy_cell(energy: EnergyRecord | None) -> str:
    """The figure as a table shows it."""
    if energy is None:
        return "-"
    if energy.mj_per_inference is None or energy.ci_low is None or energy.ci_high is None:
        return "no figure"
    if energy.below_resolution:
        return "below resolution"
    return f"{energy.mj_per_inference:.4f} +/-{(energy.ci_high - energy.ci_low) / 2:.4f}"


def has_figures(cells: list[CellRecord]) -> bool:
    return any(c.energy is not None and c.energy.repeats for c in cells)


def energy_rows(cells: list[CellRecord], modes: list[str], backends: list[str]) -> tuple[tuple[str, ...], ...]:
    grid = {(c.mode, c.backend): c for c in cells}
    return tuple(
        (mode, *(energy_cell(grid[(mode, b)].energy) if (mode, b) in grid else "not run" for b in backends))
        for mode in modes
    )


def energy_lines(cells: list[CellRecord]) -> list[str]:
    """How the energy was measured (source, loop, baseline, the phone's state), or why it was not."""
    records = [c.energy for c in cells if c.energy is not None]
    if not records:
        return []
    measured = [e for e in records if e.repeats]
    if not measured:
        reasons = sorted({e.note for e in records if e.note})
        return [f"energy: no figure: {'; '.join(reasons) or 'no cell measured it'}"]
    first = measured[0]
    baselines = [e.baseline_mw for e in measured if e.baseline_mw is not None]
    below = sum(1 for e in measured if e.below_resolution)
    state = ", ".join(
        f"{name} {value}"
        for name, value in (("screen", first.screen), ("brightness", first.brightness), ("governor", first.governor))
        if value
    )
    lines = [
        f"energy: {first.label}; {len(first.repeats)} repeats of {first.loop_seconds:g} s idle then "
        f"{first.loop_seconds:g} s of back-to-back inferences (the meter changed every {first.update_period_s:.2f} s)"
        + (f"; idle baseline {min(baselines):.0f}-{max(baselines):.0f} mW" if baselines else "")
        + (f"; {state}" if state else ""),
    ]
    if below:
        lines.append(f"energy: {below} figure(s) below resolution: their 95% interval is wider than the figure")
    if first.emulated:
        lines.append(
            "energy: the emulated energy model is CPU time times stated per-core constants, not a measurement: "
            "it is shown and never used to pick a build"
        )
    return lines
