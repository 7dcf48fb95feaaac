"""A current run against a baseline, cell by cell: a verdict for status, accuracy, latency and
energy (where both runs measured it).

Cells are matched by device serial, or, when each run has one device, to each other. A cell
that was ``ok`` and now is not (failed, unavailable, missing) regresses. Latency is judged on
the repeats (``host.gate.stats``); accuracy image by image when both runs kept per-image
outcomes, else on the two top-1 figures. Warnings say what weakens a comparison: different
devices or runtimes, a device that ran slower as a whole, throttled repeats left out.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field

import numpy as np

from host.errors import InputError
from host.gate import stats
from host.gate.options import Thresholds
from host.gate.stats import INCONCLUSIVE, NO_REGRESSION, REGRESSED, Decision
from host.results import CellRecord, DeviceRecord, RunRecord

DEVICE_SPEED_WARNING = 0.05  # the reference loop's median differs more than this between the runs


@dataclass(frozen=True)
class Finding:
    device: str
    mode: str
    backend: str
    check: str  # status | accuracy | latency | energy
    verdict: str  # regressed | no regression | inconclusive
    baseline: str
    current: str
    detail: str = ""
    decision: Decision | None = None

    @property
    def regressed(self) -> bool:
        return self.verdict == REGRESSED

    @property
    def cell(self) -> tuple[str, str, str]:
        return (self.device, self.mode, self.backend)


@dataclass(frozen=True)
class Verdicts:
    baseline: str
    current: str
    findings: list[Finding] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def count(self, verdict: str) -> int:
        return sum(f.verdict == verdict for f in self.findings)

    def undecided_cells(self) -> set[tuple[str, str, str]]:
        return {f.cell for f in self.findings if f.verdict == INCONCLUSIVE}

    def failed(self, inconclusive: str) -> bool:
        """Whether the gate fails: a regression, or (with ``--inconclusive fail``) an undecided cell."""
        return self.count(REGRESSED) > 0 or (inconclusive == "fail" and self.count(INCONCLUSIVE) > 0)


def check_same_inputs(baseline: RunRecord, current: RunRecord) -> None:
    """Runs of different models or datasets are not a regression check: refuse them."""
    for what, before, after in (
        ("model", baseline.model.sha256, current.model.sha256),
        ("dataset", baseline.dataset.sha256, current.dataset.sha256),
    ):
        if before != after:
            names = (
                (baseline.model.name, current.model.name)
                if what == "model"
                else (baseline.dataset.name, current.dataset.name)
            )
            raise InputError(
                f"the runs measured different {what}s ({names[0]} {str(before)[:12]} against {names[1]} "
                f"{str(after)[:12]}): pass --allow-different-inputs to compare them anyway"
            )


def _pair_devices(baseline: RunRecord, current: RunRecord) -> dict[str, str]:
    """current serial -> baseline serial."""
    base = sorted({c.device for c in baseline.cells})
    cur = sorted({c.device for c in current.cells})
    if len(base) == 1 and len(cur) == 1:
        return {cur[0]: base[0]}
    return {s: s for s in cur if s in base}


def compare(baseline: RunRecord, current: RunRecord, limits: Thresholds | None = None) -> Verdicts:
    limits = limits or Thresholds()
    pairs = _pair_devices(baseline, current)
    if not pairs:
        raise InputError("the runs share no device: name the same serials, or compare single-device runs")
    verdicts = Verdicts(baseline.run_id, current.run_id)
    current_cells = {c.key: c for c in current.cells}
    for current_serial, base_serial in sorted(pairs.items()):
        verdicts.warnings.extend(device_warnings(baseline, current, base_serial, current_serial))
        for base in sorted((c for c in baseline.cells if c.device == base_serial and c.ok), key=lambda c: c.key):
            cell = current_cells.get((current_serial, base.mode, base.backend))
            verdicts.findings.extend(compare_cell(base, cell, current_serial, limits))
    return verdicts


def compare_cell(base: CellRecord, cell: CellRecord | None, serial: str, limits: Thresholds) -> list[Finding]:
    where = (serial, base.mode, base.backend)
    if cell is None or not cell.ok:
        now = "missing" if cell is None else f"{cell.status}: {cell.error}"
        return [Finding(*where, "status", REGRESSED, "ok", now)]
    out = [Finding(*where, "status", NO_REGRESSION, "ok", "ok")]
    if base.result.accuracy and cell.result.accuracy:
        out.append(_accuracy(base, cell, where, limits))
    if base.result.latency and cell.result.latency:
        out.append(_latency(base, cell, where, limits))
    if base.energy is not None and base.energy.repeats and cell.energy is not None:
        out.append(_energy(base, cell, where, limits))
    return out


def outcomes(cell: CellRecord) -> np.ndarray | None:
    """Each evaluated image's top-1 outcome (right or wrong), or None when the run did not keep them."""
    count = cell.result.evaluated_images
    if not cell.outcomes or not count or len(cell.outcomes) * 8 < count:
        return None
    return np.unpackbits(np.frombuffer(cell.outcomes, dtype=np.uint8))[:count].astype(bool)


def _accuracy(base: CellRecord, cell: CellRecord, where: tuple[str, str, str], limits: Thresholds) -> Finding:
    before, after = base.result.accuracy, cell.result.accuracy
    assert before is not None and after is not None
    base_outcomes, current_outcomes = outcomes(base), outcomes(cell)
    if base_outcomes is not None and current_outcomes is not None and len(base_outcomes) == len(current_outcomes):
        decision = stats.accuracy_paired(base_outcomes, current_outcomes, before.count or len(base_outcomes), limits)
    else:
        decision = stats.accuracy_unpaired(before.top1, after.top1, limits)
    detail = f"top-1 {-(decision.change or 0):+.2f} points (limit -{limits.max_accuracy_drop:g}); {decision.note}"
    if decision.p is not None:
        detail += f", p={decision.p:.2g}"
    return Finding(
        *where, "accuracy", decision.verdict, f"{100 * before.top1:.2f}%", f"{100 * after.top1:.2f}%", detail, decision
    )


def repeat_medians(cell: CellRecord) -> list[float]:
    return [r.median_ms for r in cell.timed]


def _side(cell: CellRecord) -> str:
    values = repeat_medians(cell)
    throttled = sum(1 for r in cell.repeats if r.kind == "repeat" and r.throttled)
    text = f"{statistics.median(values):.3f} ms (n={len(values)})" if values else "no repeats"
    return text + (f", {throttled} throttled left out" if throttled else "")


def _latency(base: CellRecord, cell: CellRecord, where: tuple[str, str, str], limits: Thresholds) -> Finding:
    before, after = repeat_medians(base), repeat_medians(cell)
    if not before or not after:
        decision = Decision(
            INCONCLUSIVE,
            note="no repeats recorded (a JSON run keeps one p50 per cell): check runs "
            "stored in --db, measured with --repeats, or use host compare",
        )
    else:
        decision = stats.latency(before, after, limits)
    return Finding(
        *where, "latency", decision.verdict, _side(base), _side(cell), describe_latency(decision, limits), decision
    )


def _energy_side(cell: CellRecord) -> str:
    energy = cell.energy
    if energy is None or energy.mj_per_inference is None:
        return f"no figure ({energy.note})" if energy is not None and energy.note else "no figure"
    text = f"{energy.mj_per_inference:.4f} mJ (n={len(energy.repeats)})"
    return text + (", below resolution" if energy.below_resolution else "")


def _energy(base: CellRecord, cell: CellRecord, where: tuple[str, str, str], limits: Thresholds) -> Finding:
    """Energy per inference, judged on the repeats like latency; a side below its meter's
    resolution, or without a figure, decides nothing."""
    before, after = base.energy, cell.energy
    assert before is not None and after is not None
    if not after.repeats:
        decision = Decision(INCONCLUSIVE, note=f"the current run has no energy figure: {after.note or 'not measured'}")
    elif before.below_resolution or after.below_resolution:
        decision = Decision(INCONCLUSIVE, note="a side is below its meter's resolution: nothing to judge")
    else:
        decision = stats.energy(
            [r.mj_per_inference for r in before.repeats], [r.mj_per_inference for r in after.repeats], limits
        )
    detail = describe_change(decision, "energy", limits.energy_limit, limits, "Welch's t-test")
    if before.emulated or after.emulated:
        detail += "; emulated energy model"
    return Finding(*where, "energy", decision.verdict, _energy_side(base), _energy_side(cell), detail, decision)


def describe_latency(decision: Decision, limits: Thresholds) -> str:
    return describe_change(decision, "p50", limits.latency_limit, limits, "min of Mann-Whitney U, Kolmogorov-Smirnov")


def describe_change(decision: Decision, what: str, limit: float, limits: Thresholds, test: str) -> str:
    """A relative change in words: the change, its interval, the limit, the p-value and its test."""
    parts = []
    if decision.change is not None:
        text = f"{what} {100 * decision.change:+.1f}%"
        if decision.low is not None and decision.high is not None:
            text += f" [{100 * decision.low:+.1f}%, {100 * decision.high:+.1f}%] ({100 * limits.confidence:g}% CI)"
        parts.append(text + f", limit +{100 * limit:g}%")
    if decision.p is not None:
        parts.append(f"p={decision.p:.2g} ({test})")
    if decision.note:
        parts.append(decision.note)
    return "; ".join(parts)


def _device(run: RunRecord, serial: str) -> DeviceRecord | None:
    return next((d for d in run.devices if d.serial == serial), None)


def device_warnings(baseline: RunRecord, current: RunRecord, base_serial: str, current_serial: str) -> list[str]:
    """What makes the two runs' devices differ: hardware, software, pinning, or overall speed."""
    before, after = _device(baseline, base_serial), _device(current, current_serial)
    warnings = []
    if before and after:
        for name in (
            "model",
            "soc",
            "abi",
            "sdk",
            "runtime",
            "runtime_version",
            "cores",
            "cpu_mask",
            "fixed_performance",
        ):
            a, b = getattr(before, name), getattr(after, name)
            if a != b:
                warnings.append(
                    f"{current_serial}: the devices' fingerprints differ: {name} {a!r} in {baseline.run_id}, "
                    f"{b!r} in {current.run_id}"
                )
        if before.fingerprint and after.fingerprint:
            for name in ("build", "soc", "kernel", "governors", "max_khz", "delegates"):
                a, b = getattr(before.fingerprint, name), getattr(after.fingerprint, name)
                if a != b:
                    warnings.append(
                        f"{current_serial}: the devices' fingerprints differ: {name} {a!r} in "
                        f"{baseline.run_id}, {b!r} in {current.run_id}"
                    )
    speed_before, speed_after = _reference_loop(baseline, base_serial), _reference_loop(current, current_serial)
    if speed_before and speed_after and abs(speed_after / speed_before - 1) > DEVICE_SPEED_WARNING:
        warnings.append(
            f"{current_serial}: the device itself ran {100 * (speed_after / speed_before - 1):+.0f}% slower in "
            f"{current.run_id} (a fixed CPU loop timed before each repeat): every build shifts with it; "
            "host compare interleaves both builds in one session and cancels that"
        )
    return warnings


def _reference_loop(run: RunRecord, serial: str) -> float:
    times = [
        r.reference_before_ms for c in run.cells if c.device == serial for r in c.timed if r.reference_before_ms > 0
    ]
    return statistics.median(times) if times else 0.0
