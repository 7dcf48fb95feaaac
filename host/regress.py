"""Release gate: compare a current run with a baseline, cell by cell.

A cell (device, mode, backend) regresses when:

* it was ``ok`` and now is not (failed, unavailable, or missing);
* its top-1 accuracy dropped by more than ``max_accuracy_drop`` points;
* its p50 latency rose by more than ``max_latency_increase`` percent **and**, when both runs
  kept raw samples, the rise is significant (one-sided Mann-Whitney U, p < ``alpha``), so noise
  in a single median does not fail a release. Runs loaded from JSON have no samples; then the
  threshold alone decides.

Devices are matched by serial, or, when each run has exactly one device, to each other.
"""

from __future__ import annotations

import json
import math
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from host.errors import InputError
from host.fsio import atomic_write
from host.params import Param, at_least, between, validate
from host.results import CellRecord, RunRecord, run_from_json
from host.store import DB, ResultsStore


@dataclass(frozen=True)
class Thresholds:
    max_latency_increase: float = Param(10.0, "p50 latency rise allowed", unit="% of the baseline", metavar="PCT",
                                        check=at_least(0)).field()
    max_accuracy_drop: float = Param(1.0, "top-1 accuracy drop allowed", unit="percentage points", metavar="POINTS",
                                     check=at_least(0)).field()
    alpha: float = Param(0.01, "significance level for latency rises judged on raw samples", metavar="P",
                         check=between(1e-12, 0.5)).field()


    def validate(self) -> None:
        validate(self)


@dataclass(frozen=True)
class CheckOptions:
    baseline: str = Param("", "run id (or prefix, or latest) in --db, or a host bench --json file", metavar="RUN|FILE",
                          required=True).field()
    current: str = Param("", "run id (or prefix, or latest) in --db, or a host bench --json file", metavar="RUN|FILE",
                         required=True).field()
    junit: str | None = Param(None, "write JUnit XML for the CI's test report", metavar="FILE").field()
    db: str | None = DB.field()
    allow_different_inputs: bool = Param(False, "compare runs of different models or datasets (refused otherwise: the "
                                         "numbers would not measure the same thing)").field()


@dataclass(frozen=True)
class Finding:
    device: str
    mode: str
    backend: str
    check: str  # status | accuracy | latency
    regressed: bool
    baseline: str
    current: str
    detail: str = ""


def mann_whitney_greater(current: np.ndarray, baseline: np.ndarray) -> float:
    """One-sided p-value that ``current`` tends to be larger than ``baseline`` (normal approx.)."""
    n1, n2 = len(current), len(baseline)
    if n1 == 0 or n2 == 0:
        return 1.0
    combined = np.concatenate([current, baseline])
    order = combined.argsort(kind="mergesort")
    ranks = np.empty(len(combined), dtype=np.float64)
    ranks[order] = np.arange(1, len(combined) + 1)
    values, inverse, counts = np.unique(combined, return_inverse=True, return_counts=True)
    if len(values) < len(combined):  # average ranks over ties
        sums = np.bincount(inverse, weights=ranks)
        ranks = (sums / counts)[inverse]
    u = ranks[:n1].sum() - n1 * (n1 + 1) / 2.0
    mean = n1 * n2 / 2.0
    tie_term = float(((counts**3 - counts).sum()) / ((n1 + n2) * (n1 + n2 - 1))) if n1 + n2 > 1 else 0.0
    variance = n1 * n2 / 12.0 * ((n1 + n2 + 1) - tie_term)
    if variance <= 0:
        return 1.0 if u <= mean else 0.0
    z = (u - mean - 0.5) / math.sqrt(variance)
    return 0.5 * math.erfc(z / math.sqrt(2.0))


def load_run_ref(ref: str, db: Path) -> RunRecord:
    """A run from a ``host bench --json`` file, or by id (prefix, latest) from the database."""
    path = Path(ref)
    if path.is_file():
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError) as e:
            raise InputError(f"{path}: not readable JSON ({e})") from e
        return run_from_json(data, str(path))
    if not db.is_file():
        raise InputError(f"{ref} is not a JSON file and there is no results database at {db}")
    store = ResultsStore(db, read_only=True)
    try:
        return store.load_run(ref)
    finally:
        store.close()


def _pair_devices(baseline: RunRecord, current: RunRecord) -> dict[str, str]:
    """current serial -> baseline serial."""
    base = sorted({c.device for c in baseline.cells})
    cur = sorted({c.device for c in current.cells})
    if len(base) == 1 and len(cur) == 1:
        return {cur[0]: base[0]}
    return {s: s for s in cur if s in base}


def check_same_inputs(baseline: RunRecord, current: RunRecord) -> None:
    """Runs of different models or datasets are not a regression check: refuse them."""
    for what, before, after in (("model", baseline.model.sha256, current.model.sha256),
                                ("dataset", baseline.dataset.sha256, current.dataset.sha256)):
        if before != after:
            names = (baseline.model.name, current.model.name) if what == "model" else (baseline.dataset.name, current.dataset.name)
            raise InputError(f"the runs measured different {what}s ({names[0]} {str(before)[:12]} against {names[1]} "
                             f"{str(after)[:12]}): pass --allow-different-inputs to compare them anyway")


def compare(baseline: RunRecord, current: RunRecord, limits: Thresholds = Thresholds()) -> list[Finding]:
    pairs = _pair_devices(baseline, current)
    if not pairs:
        raise InputError("the runs share no device: name the same serials, or compare single-device runs")
    base_cells = {c.key: c for c in baseline.cells}
    current_cells = {c.key: c for c in current.cells}
    findings: list[Finding] = []
    for key, base in sorted(base_cells.items()):
        current_serial = next((c for c, b in pairs.items() if b == key[0]), None)
        if current_serial is None or base.status != "ok":
            continue
        cell = current_cells.get((current_serial, key[1], key[2]))
        findings.extend(_compare_cell(base, cell, current_serial, limits))
    return findings


def _compare_cell(base: CellRecord, cell: CellRecord | None, serial: str, limits: Thresholds) -> list[Finding]:
    where = (serial, base.mode, base.backend)
    if cell is None or cell.status != "ok":
        now = "missing" if cell is None else f"{cell.status}: {cell.error}"
        return [Finding(*where, "status", True, "ok", now)]
    out = [Finding(*where, "status", False, "ok", "ok")]
    before_acc, after_acc = base.result.accuracy, cell.result.accuracy
    if before_acc and after_acc:
        drop = 100.0 * (before_acc.top1 - after_acc.top1)
        out.append(Finding(*where, "accuracy", drop > limits.max_accuracy_drop, f"{100 * before_acc.top1:.2f}%",
                           f"{100 * after_acc.top1:.2f}%", f"top-1 {-drop:+.2f} points (limit -{limits.max_accuracy_drop:g})"))
    before_lat, after_lat = base.result.latency, cell.result.latency
    if before_lat and after_lat:
        before, after = before_lat.p50, after_lat.p50
        increase = 100.0 * (after - before) / before if before > 0 else 0.0
        over = increase > limits.max_latency_increase
        detail = f"p50 {increase:+.1f}% (limit +{limits.max_latency_increase:g}%)"
        if over and before_lat.samples_ms and after_lat.samples_ms:
            p_value = mann_whitney_greater(np.asarray(after_lat.samples_ms), np.asarray(before_lat.samples_ms))
            detail += f", Mann-Whitney p={p_value:.2g}"
            over = p_value < limits.alpha
            if not over:
                detail += " (not significant: noise)"
        out.append(Finding(*where, "latency", over, f"{before:.3f} ms", f"{after:.3f} ms", detail))
    return out


def junit_xml(findings: list[Finding], path: Path, name: str = "quantbench.check") -> None:
    suite = ET.Element("testsuite", name=name, tests=str(len(findings)), failures=str(sum(f.regressed for f in findings)))
    for f in findings:
        case = ET.SubElement(suite, "testcase", classname=f"{name}.{f.device}.{f.mode}.{f.backend}", name=f.check)
        if f.regressed:
            failure = ET.SubElement(case, "failure", message=f"{f.check} regressed: {f.baseline} -> {f.current}")
            failure.text = f.detail
        else:
            ET.SubElement(case, "system-out").text = f"{f.baseline} -> {f.current} {f.detail}".strip()
    atomic_write(path, ET.tostring(suite, encoding="utf-8", xml_declaration=True))
