"""Which build should ship: the Pareto front of a run's builds and one pick with its reason.

Quality is the task's metric when the run had labels (top-1, or the segment/detect/keypoints
task's mIoU, mAP or PCK), else fidelity to the float build
(the worst output's SNR against none/cpu1), else not known (no dataset: said so). A build is on
the front when it meets the quality floor and no other build is at least as good, as fast and as
small, and better in one of them. The pick honours the user's limits (size, latency, quality)
and never ships a broken build:
with no floor given it keeps the builds within ``DEFAULT_ACCURACY_SLACK`` points of the float
build's top-1, or with an SNR of at least ``DEFAULT_MIN_SNR_DB`` without labels, then takes the
fastest; the smaller (then the more faithful) one when two are within ``SAME_SPEED`` of each
other or their p50s differ by less than the noise (their 95% intervals overlap: over independent
repeats where the run has them, else one repeat's spread). Only measured cells count, and a cell
an emulated device's software GPU or NPU ran is never picked for its speed.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field

from device_agent.contract import SNR_CEILING_DB
from host.results import CellRecord, EnergyRecord, RunRecord

DEFAULT_ACCURACY_SLACK = 1.0  # points of top-1 below the float build's
DEFAULT_MIN_SNR_DB = 30.0  # without labels: the worst output's SNR against the float build
SAME_SPEED = 0.05  # p50 within 5%: call it a tie, prefer the smaller file
TOP1, SNR, TASK = "top1", "snr", "task"  # the quality a pick weighs
METRIC_NAMES = {
    TOP1: "top-1 accuracy (%)",
    SNR: "worst-output SNR vs the float build (dB)",
    TASK: "the task's metric (%)",
}


def metric_name(metric: str | None, builds: list[Build] | tuple[Build, ...]) -> str:
    """The quality axis's name: a task's own metric (``mAP@0.5:0.95 (%)``) when the pick weighed one."""
    if metric == TASK:
        named = next((b.task_metric for b in builds if b.task_metric), "")
        return f"{named} (%)" if named else METRIC_NAMES[TASK]
    return METRIC_NAMES.get(metric or "", "model size (no dataset: quality not measured)")


@dataclass(frozen=True)
class Build:
    mode: str
    backend: str
    top1: float | None  # percent; None without labels
    p50_ms: float
    size_mb: float
    software: str = ""  # an emulated device's software GPU/NPU ran it: its accuracy is real, its speed is not a phone's
    noise_ms: float = 0.0  # half-width of p50's 95% interval (repeats), or one repeat's standard deviation
    snr_db: float | None = None  # the worst output's SNR against the float reference; None when not compared
    snr_output: str = ""  # which output that was, when the model has several
    task_value: float | None = None  # percent: the segment/detect/keypoints metric; None without such labels
    task_metric: str = ""  # its name: mIoU, mAP@0.5:0.95, PCK@0.05
    energy: EnergyRecord | None = field(default=None, compare=False)  # energy per inference, where measured

    @property
    def label(self) -> str:
        return f"{self.mode} on {self.backend}"

    def quality(self, metric: str | None) -> float | None:
        """The figure the pick weighs: top-1 or the task's metric (%), or the worst output's SNR (dB);
        None when unmeasured."""
        return {TOP1: self.top1, SNR: self.snr_db, TASK: self.task_value}.get(metric or "")

    def ties(self, fastest: Build) -> bool:
        """As fast as ``fastest`` for a pick: within ``SAME_SPEED``, or inside the noise of the two."""
        return (
            self.p50_ms <= fastest.p50_ms * (1 + SAME_SPEED)
            or self.p50_ms - self.noise_ms <= fastest.p50_ms + fastest.noise_ms
        )


def latency_noise(cell: CellRecord) -> float:
    """How far p50 could move on a rerun: the 95% t-interval's half-width over the cell's
    independent repeats when it has two or more; else the distribution-free 95% interval of its
    one repeat's median (order statistics of its raw samples: a few slow outliers on a busy
    phone widen the std far past any real doubt about the median); else that repeat's std."""
    from scipy import stats

    medians = [r.median_ms for r in cell.timed]
    if len(medians) >= 2:
        return float(stats.t.ppf(0.975, len(medians) - 1) * statistics.stdev(medians) / math.sqrt(len(medians)))
    latency = cell.result.latency
    if latency is None or latency.count <= 1:
        return 0.0
    samples = sorted(latency.samples_ms)
    if len(samples) < 6:
        return float(latency.std)
    low, high = (int(k) for k in stats.binom.interval(0.95, len(samples), 0.5))
    return max(latency.p50 - samples[max(low - 1, 0)], samples[min(high, len(samples) - 1)] - latency.p50, 0.0)


@dataclass(frozen=True)
class Recommendation:
    device: str
    builds: tuple[Build, ...]
    front: tuple[Build, ...]
    pick: Build | None
    reason: str
    excluded: dict[str, str] = field(default_factory=dict)  # build label -> the limit it breaks
    metric: str | None = None  # TOP1, SNR, or None (no dataset): what quality meant for this pick


def quality_metric(builds: list[Build]) -> str | None:
    """The task metric when any build has one, else fidelity to float, else None (no dataset)."""
    if any(b.task_value is not None for b in builds):
        return TASK
    if any(b.top1 is not None for b in builds):
        return TOP1
    return SNR if any(b.snr_db is not None for b in builds) else None


def dominates(a: Build, b: Build, metric: str | None = TOP1) -> bool:
    q_a, q_b = a.quality(metric), b.quality(metric)
    acc_a, acc_b = q_a if q_a is not None else -math.inf, q_b if q_b is not None else -math.inf
    no_worse = acc_a >= acc_b and a.p50_ms <= b.p50_ms and a.size_mb <= b.size_mb
    return no_worse and (acc_a > acc_b or a.p50_ms < b.p50_ms or a.size_mb < b.size_mb)


def pareto_front(builds: list[Build], metric: str | None = TOP1) -> list[Build]:
    return sorted((b for b in builds if not any(dominates(o, b, metric) for o in builds)), key=lambda b: b.p50_ms)


def measured_builds(run: RunRecord, device: str | None = None, backend: str | None = None) -> tuple[str, list[Build]]:
    serial = device or (run.devices[0].serial if run.devices else "")
    builds = []
    for cell in run.cells:
        if cell.device != serial or not cell.ok or cell.result.latency is None or (backend and cell.backend != backend):
            continue
        accuracy = cell.result.accuracy
        size = cell.size_bytes or cell.result.size_bytes
        delegation = cell.result.delegation
        snr, output = _fidelity(cell, run)
        task = cell.task
        builds.append(
            Build(
                cell.mode,
                cell.backend,
                round(100 * accuracy.top1, 3) if accuracy else None,
                cell.result.latency.p50,
                size / 1e6,
                delegation.hardware if delegation else "",
                latency_noise(cell),
                snr,
                output,
                round(100 * task.value, 3) if task else None,
                task.metric if task else "",
                cell.energy,
            )
        )
    return serial, builds


def _fidelity(cell: CellRecord, run: RunRecord) -> tuple[float | None, str]:
    """The worst output's SNR and its name; the reference cell (none/cpu1) is the float build itself."""
    fidelity = cell.result.fidelity
    if fidelity is not None and fidelity.snr_db is not None:
        worst = min(fidelity.outputs, key=lambda o: o.snr_db) if len(fidelity.outputs) > 1 else None
        return fidelity.snr_db, worst.name if worst else ""
    if (cell.mode, cell.backend) == ("none", "cpu1") and run.dataset.sha256:
        return SNR_CEILING_DB, ""
    return None, ""


@dataclass(frozen=True)
class Floor:
    """The least quality a pick may have, and where that number came from (said in the reason)."""

    metric: str | None
    value: float | None
    rule: str


def quality_floor(builds: list[Build], metric: str | None, min_accuracy: float | None, min_snr: float | None) -> Floor:
    """The user's floor, else the default: within one point of the float build's top-1 (the best
    measured when float was not), or an SNR of DEFAULT_MIN_SNR_DB without labels."""
    if metric in (TOP1, TASK):
        named = "top-1" if metric == TOP1 else metric_name(TASK, builds).removesuffix(" (%)")
        if min_accuracy is not None:
            return Floor(metric, min_accuracy, f"the fastest build with {named} >= {min_accuracy:g}%")
        # the reference (none/cpu1) where measured, else float on another backend, else the best build
        ordered = sorted(builds, key=lambda b: b.backend != "cpu1")
        floats = [q for b in ordered if b.mode == "none" and (q := b.quality(metric)) is not None]
        base = (floats or [max(q for b in builds if (q := b.quality(metric)) is not None)])[0]
        whose = "the float build's" if floats else "the best"
        return Floor(
            metric,
            base - DEFAULT_ACCURACY_SLACK,
            f"the fastest build within {DEFAULT_ACCURACY_SLACK:g} point of {whose} {named} ({base:.1f}%)",
        )
    if metric == SNR:
        value = DEFAULT_MIN_SNR_DB if min_snr is None else min_snr
        return Floor(
            SNR,
            value,
            f"the fastest build whose every output stays at SNR >= {value:g} dB against the float "
            f"build (no labels: fidelity to float is the quality)",
        )
    return Floor(None, None, "the fastest build (no dataset: quality could not be weighed)")


def _limits(build: Build, max_size: float | None, max_latency: float | None, floor: Floor) -> str:
    if max_size is not None and build.size_mb > max_size:
        return f"{build.size_mb:.2f} MB > {max_size:g} MB"
    if max_latency is not None and build.p50_ms > max_latency:
        return f"p50 {build.p50_ms:.3f} ms > {max_latency:g} ms"
    if floor.value is None:
        return ""
    quality = build.quality(floor.metric)
    if quality is None:
        return {TOP1: "no accuracy measured", TASK: "task metric not measured"}.get(
            floor.metric or "", "fidelity to float not measured"
        )
    if quality < floor.value:
        if floor.metric == TOP1:
            return f"top-1 {quality:.1f}% < {floor.value:.1f}%"
        if floor.metric == TASK:
            return f"{build.task_metric} {quality:.1f}% < {floor.value:.1f}%"
        where = f" ({build.snr_output})" if build.snr_output else ""
        return f"SNR {quality:.1f} dB{where} < {floor.value:g} dB: its outputs drift from the float build's"
    return ""


def recommend(
    run: RunRecord,
    *,
    max_size: float | None = None,
    max_latency: float | None = None,
    min_accuracy: float | None = None,
    min_snr: float | None = None,
    backend: str | None = None,
    device: str | None = None,
    prefer: str = "latency",
) -> Recommendation:
    serial, builds = measured_builds(run, device, backend)
    if not builds:
        where = f" on {backend}" if backend else ""
        return Recommendation(serial, (), (), None, f"no build was measured{where} on {serial or 'any device'}")
    metric = quality_metric(builds)
    floor = quality_floor(builds, metric, min_accuracy, min_snr)
    excluded = {
        b.label: f"measured on a software {b.backend.split('-')[0].upper()} ({b.software}): its latency is not "
        f"a phone's"
        for b in builds
        if b.software
    }
    excluded.update(
        {b.label: why for b in builds if b.label not in excluded and (why := _limits(b, max_size, max_latency, floor))}
    )
    if prefer == "energy":
        excluded.update({b.label: why for b in builds if b.label not in excluded and (why := _no_energy(b))})
    allowed = [b for b in builds if b.label not in excluded]
    front = tuple(pareto_front([b for b in builds if not b.software and not _limits(b, None, None, floor)], metric))
    if not allowed:
        return Recommendation(
            serial,
            tuple(builds),
            front,
            None,
            "no build meets the limits: " + "; ".join(f"{k}: {v}" for k, v in list(excluded.items())[:4]),
            excluded,
            metric,
        )
    if prefer == "energy":
        pick, reason = _least_energy(allowed, floor)
        return Recommendation(serial, tuple(builds), front, pick, reason, excluded, metric)
    fastest = min(allowed, key=lambda b: b.p50_ms)
    pick = min(
        (b for b in allowed if b.ties(fastest)), key=lambda b: (b.size_mb, -(b.quality(metric) or 0.0), b.p50_ms)
    )
    reason = _reason(pick, builds, floor) + _tie(pick, fastest) + _broken(builds, excluded, floor)
    return Recommendation(serial, tuple(builds), front, pick, reason, excluded, metric)


def _no_energy(build: Build) -> str:
    """Why a build's energy cannot decide a pick ('' when it can)."""
    energy = build.energy
    if energy is None or energy.mj_per_inference is None:
        return "no energy figure" + (f" ({energy.note})" if energy is not None and energy.note else "")
    if energy.emulated:
        return "energy from the emulated energy model: never used to pick a build"
    if energy.below_resolution:
        return "energy below its meter's resolution"
    return ""


def _energy_figure(build: Build) -> tuple[float, float, float]:
    """A build's energy per inference and its 95% interval (builds left for a pick have them)."""
    energy = build.energy
    assert energy is not None and energy.mj_per_inference is not None
    assert energy.ci_low is not None and energy.ci_high is not None
    return energy.mj_per_inference, energy.ci_low, energy.ci_high


def _least_energy(allowed: list[Build], floor: Floor) -> tuple[Build, str]:
    """The build with the least energy per inference; builds whose 95% intervals overlap the
    least's are a tie, which the fastest p50 (then the smaller file) breaks."""
    least = min(allowed, key=lambda b: _energy_figure(b)[0])
    tied = [b for b in allowed if _energy_figure(b)[1] <= _energy_figure(least)[2]]
    pick = min(tied, key=lambda b: (b.p50_ms, b.size_mb))
    mean, low, high = _energy_figure(pick)
    assert pick.energy is not None
    within = floor.rule.removeprefix("the fastest build ")
    reason = (
        f"the least energy per inference of the builds {within}: {mean:.4f} mJ "
        f"(95% {low:.4f}..{high:.4f}) on {pick.energy.label}; p50 {pick.p50_ms:.3f} ms"
    )
    if len(tied) > 1:
        reason += f". Tied inside the noise with {', '.join(b.label for b in tied if b is not pick)}: the fastest won"
    return pick, reason


def _broken(builds: list[Build], excluded: dict[str, str], floor: Floor) -> str:
    """Faster builds the floor kept out, said in the reason: what the pick did not trade away."""
    if floor.metric not in (SNR, TASK):
        return ""
    kept_out = [
        b.label
        for b in builds
        if not b.software
        and b.label in excluded
        and b.quality(floor.metric) is not None
        and b.quality(floor.metric) < floor.value  # type: ignore[operator]
    ]
    return f". Below the floor, never picked: {', '.join(kept_out)}" if kept_out else ""


def _tie(pick: Build, fastest: Build) -> str:
    """What the output says when the fastest p50 did not decide: a difference inside the noise."""
    if pick is fastest or pick.p50_ms <= fastest.p50_ms * (1 + SAME_SPEED):
        return ""
    return (
        f". {fastest.label}'s p50 is {pick.p50_ms - fastest.p50_ms:.3f} ms lower, inside the noise (95% intervals "
        f"±{fastest.noise_ms:.3f} and ±{pick.noise_ms:.3f} ms overlap): the smaller build wins"
    )


def _quality_text(build: Build, metric: str | None) -> str:
    if metric == TASK:
        return (
            f"{build.task_metric} {build.task_value:.1f}%"
            if build.task_value is not None
            else "task metric not measured"
        )
    if metric == TOP1:
        return f"top-1 {build.top1:.1f}%" if build.top1 is not None else "accuracy not measured"
    if metric == SNR and build.snr_db is not None:
        return (
            "outputs identical to the float build's"
            if build.snr_db >= SNR_CEILING_DB
            else f"worst-output SNR {build.snr_db:.1f} dB"
        )
    return "quality not measured"


def _reason(pick: Build, builds: list[Build], floor: Floor) -> str:
    quality = _quality_text(pick, floor.metric)
    reason = f"{pick.label}: {floor.rule}; {quality}, p50 {pick.p50_ms:.3f} ms, {pick.size_mb:.2f} MB"
    faster = [
        b for b in builds if b.p50_ms < pick.p50_ms * (1 - SAME_SPEED) and b.top1 is not None and pick.top1 is not None
    ]
    if faster:
        quickest = min(faster, key=lambda b: b.p50_ms)
        reason += (
            f". {quickest.label} is {pick.p50_ms / quickest.p50_ms:.2f}x faster but scores "
            f"{quickest.top1:.1f}% ({quickest.top1 - pick.top1:+.1f} points)"  # type: ignore[operator]
        )
    return reason
