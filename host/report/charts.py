"""The report's charts, as embedded PNGs drawn with matplotlib (only measured cells are drawn).

Readable whatever the numbers: an axis whose values span more than 10x is logarithmic (one
reference-kernel mode can be 40x slower than the rest); builds that land on the same point of
the accuracy-against-size chart share one label instead of printing over each other; latency
distributions are horizontal boxes, so long mode names never collide.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from device_agent.contract import SNR_CEILING_DB, LatencyStats
from host.quant.pareto import DEFAULT_MIN_SNR_DB, METRIC_NAMES, SNR, TASK, TOP1, Build, metric_name
from host.report.figures import png, pyplot, wide_span
from host.report.op_charts import op_charts
from host.report.sustained import Sustained, describe, sustained_runs
from host.report.tables import modes_backends
from host.results import CellRecord, RunRecord

if TYPE_CHECKING:
    from matplotlib.axes import Axes


def latency_chart(grid: dict[tuple[str, str], LatencyStats], modes: list[str], backends: list[str]) -> str:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(max(6, 1.3 * len(modes)), 4))
    width = 0.8 / max(1, len(backends))
    for i, backend in enumerate(backends):
        points = [(j + i * width, grid[(mode, backend)]) for j, mode in enumerate(modes) if (mode, backend) in grid]
        ax.bar(
            [x for x, _ in points],
            [lat.p50 for _, lat in points],
            width,
            label=backend,
            capsize=3,
            yerr=[[0] * len(points), [lat.p90 - lat.p50 for _, lat in points]],
        )
    if wide_span([lat.p50 for lat in grid.values()]):
        ax.set_yscale("log")
    ax.set_xticks([j + width * (len(backends) - 1) / 2 for j in range(len(modes))], modes, rotation=20)
    ax.set_ylabel("latency p50 (ms), whisker to p90")
    ax.set_title("Latency per mode and backend")
    ax.legend()
    return png(fig)


def _legend_points(ax: Axes, points: dict[str, tuple[float, float]], highlight: str | None = None) -> None:
    """One numbered marker per distinct point, named in a legend beside the plot: labels never
    print over each other however alike the builds score."""
    groups: dict[tuple[float, float], list[str]] = {}
    for name, (x, y) in points.items():
        groups.setdefault((round(x, 3), round(y, 1)), []).append(name)
    for i, ((x, y), names) in enumerate(sorted(groups.items()), 1):
        picked = highlight in names
        ax.scatter(
            x,
            y,
            s=90 if picked else 40,
            marker="*" if picked else "o",
            zorder=3,
            label=f"{i}: {', '.join(names)}" + (" (recommended)" if picked else ""),
        )
        ax.annotate(str(i), (x, y), textcoords="offset points", xytext=(4, 4), fontsize=8)
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=8, frameon=False)


def _accuracy_axis(ax: Axes, tops: list[float], label: str = "top-1 accuracy (%)") -> None:
    ax.set_ylim(max(0.0, min(tops) - 2.0), min(100.0, max(tops)) + 1.5)
    ax.set_ylabel(label)


def accuracy_size_chart(points: dict[str, tuple[float, float]], backend: str) -> str:
    """One numbered dot per distinct (size, accuracy), the builds named in a legend."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.5, 4))
    _legend_points(ax, points)
    _accuracy_axis(ax, [top1 for _, top1 in points.values()])
    if wide_span([size for size, _ in points.values()]):
        ax.set_xscale("log")
    ax.set_xlabel("model size (MB)")
    ax.set_title(f"Accuracy against size ({backend})")
    return png(fig)


def _plotted_quality(builds: list[Build], metric: str | None) -> dict[str, float]:
    """Each build's y: its quality, with "identical to float" drawn just above the best measured SNR
    (the 150 dB ceiling would flatten every real difference), or its size with no quality at all."""
    if metric is None:
        return {b.label: b.size_mb for b in builds}
    values = {b.label: b.quality(metric) for b in builds}
    finite = [v for v in values.values() if v is not None and v < SNR_CEILING_DB]
    top = (max(finite) if finite else 0.0) + 10.0
    return {label: min(v, top) if v is not None else float("nan") for label, v in values.items()}


def _quality_axis(ax: Axes, ys: list[float], metric: str | None, name: str) -> None:
    measured = [y for y in ys if y == y]
    if metric in (TOP1, TASK) and measured:
        _accuracy_axis(ax, measured, name)
    elif metric == SNR and measured:
        ax.set_ylim(min(min(measured), DEFAULT_MIN_SNR_DB) - 5.0, max(measured) + 5.0)
        ax.axhline(DEFAULT_MIN_SNR_DB, color="#c33", linestyle=":", linewidth=1)
        ax.set_ylabel(METRIC_NAMES[SNR] + "; top: identical")
    else:
        ax.set_ylabel("model size (MB): no dataset, quality not measured")


def pareto_chart(builds: list[Build], pick: Build | None, metric: str | None = TOP1) -> str:
    """Quality against p50 latency for every measured build, on the metric the pick used (named on
    the axis); the front (no build both faster and better) drawn as a dashed staircase. A build an
    emulated device's software GPU/NPU ran is drawn and named so, and stays off the front: its
    latency is not a phone's."""
    plt = pyplot()
    ys = _plotted_quality(builds, metric)
    better: Callable[[float, float], bool] = (
        (lambda y, last: y < last) if metric is None else (lambda y, last: y > last)
    )
    front: list[Build] = []
    for build in sorted(
        (b for b in builds if not b.software and ys[b.label] == ys[b.label]),
        key=lambda b: (b.p50_ms, ys[b.label] if metric is None else -ys[b.label]),
    ):
        if not front or better(ys[build.label], ys[front[-1].label]):
            front.append(build)
    fig, ax = plt.subplots(figsize=(6.5, 4))
    points = {
        b.label + (" (software)" if b.software else ""): (b.p50_ms, ys[b.label])
        for b in builds
        if ys[b.label] == ys[b.label]
    }
    _legend_points(ax, points, pick.label if pick else None)
    ax.step(
        [b.p50_ms for b in front],
        [ys[b.label] for b in front],
        where="post",
        color="#888",
        linestyle="--",
        linewidth=1,
        zorder=1,
    )
    _quality_axis(ax, list(ys.values()), metric, metric_name(metric, builds))
    if wide_span([b.p50_ms for b in builds]):
        ax.set_xscale("log")
    ax.set_xlabel("latency p50 (ms)")
    name = {TOP1: "Accuracy", SNR: "Fidelity to float", TASK: metric_name(TASK, builds).removesuffix(" (%)")}.get(
        metric or "", "Size"
    )
    ax.set_title(f"{name} against latency (dashed: no build both faster and better)")
    return png(fig)


def distribution_chart(cells: list[CellRecord], backends: list[str]) -> str:
    plt = pyplot()
    fig, axes = plt.subplots(
        1,
        len(backends),
        figsize=(max(6, 4 * len(backends)), 0.5 + 0.45 * len(cells) / len(backends) + 2),
        squeeze=False,
    )
    for ax, backend in zip(axes[0], backends, strict=True):
        mine = [c for c in cells if c.backend == backend and c.result.latency]
        samples = [list(c.result.latency.samples_ms) for c in mine if c.result.latency]
        if samples:
            ax.boxplot(samples, tick_labels=[c.mode for c in mine], showfliers=False, orientation="horizontal")
            if wide_span([min(s) for s in samples] + [max(s) for s in samples]):
                ax.set_xscale("log")
        ax.set_title(backend)
        ax.set_xlabel("ms")
    fig.suptitle("Latency distributions (raw samples, outliers hidden)")
    fig.tight_layout()
    return png(fig)


def sustained_chart(runs: list[Sustained]) -> str:
    """Window medians over time, one line per sustained cell; a dashed line where throttling began."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4))
    for run in runs:
        line = ax.plot(
            [w.start_s / 60 for w in run.windows],
            [w.median_ms for w in run.windows],
            marker="o",
            markersize=3,
            label=f"{run.mode}/{run.backend}",
        )
        if run.onset_s is not None:
            ax.axvline(run.onset_s / 60, linestyle="--", color=line[0].get_color(), linewidth=1)
    ax.set_xlabel("minutes into the sustained run")
    ax.set_ylabel("latency p50 per window (ms)")
    ax.set_title("Sustained latency (dashed: throttle onset, first window >10% slower than the first)")
    ax.legend()
    return png(fig)


def energy_chart(cells: list[CellRecord]) -> str:
    """Energy per inference against p50 latency, one marker per build and backend, whiskers the
    95% interval; figures below resolution are drawn hollow, and the emulated model is said so."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4))
    emulated = False
    for cell in cells:
        energy, latency = cell.energy, cell.result.latency
        if energy is None or energy.mj_per_inference is None or latency is None:
            continue
        emulated = emulated or energy.emulated
        low = energy.mj_per_inference if energy.ci_low is None else energy.ci_low
        high = energy.mj_per_inference if energy.ci_high is None else energy.ci_high
        ax.errorbar(
            latency.p50,
            energy.mj_per_inference,
            yerr=[[max(energy.mj_per_inference - low, 0.0)], [max(high - energy.mj_per_inference, 0.0)]],
            fmt="o",
            capsize=3,
            mfc="none" if energy.below_resolution else None,
            label=f"{cell.mode}/{cell.backend}" + (" (below resolution)" if energy.below_resolution else ""),
        )
    if wide_span([c.result.latency.p50 for c in cells if c.result.latency]):
        ax.set_xscale("log")
    ax.set_xlabel("latency p50 (ms)")
    ax.set_ylabel("energy per inference (mJ), whiskers: 95% interval")
    ax.set_title("Energy against latency" + (" (emulated energy model: not a measurement)" if emulated else ""))
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=8, frameon=False)
    return png(fig)


def charts(run: RunRecord, serial: str) -> list[tuple[str, str, str]]:
    """(chart id, caption, base64 PNG) for one device's measured cells."""
    ok = [c for c in run.cells if c.device == serial and c.ok and c.result.latency]
    if not ok:
        return []
    modes, backends = modes_backends(ok, run)
    grid = {(c.mode, c.backend): c.result.latency for c in ok if c.result.latency}
    out = [
        ("chart-latency", "p50 latency per mode and backend (whiskers reach p90)", latency_chart(grid, modes, backends))
    ]
    points: dict[str, tuple[float, float]] = {}
    scored = [c for c in ok if c.result.accuracy and c.size_bytes]
    for c in scored:
        if c.backend == scored[0].backend and c.result.accuracy and c.size_bytes:
            points[c.mode] = (c.size_bytes / 1e6, 100 * c.result.accuracy.top1)
    if points:
        out.append(
            ("chart-accuracy-size", "top-1 accuracy against model size", accuracy_size_chart(points, scored[0].backend))
        )
    with_samples = [c for c in ok if c.result.latency and c.result.latency.samples_ms]
    if with_samples:
        out.append(
            (
                "chart-latency-distribution",
                "latency distributions from raw samples",
                distribution_chart(with_samples, [b for b in backends if any(c.backend == b for c in with_samples)]),
            )
        )
    with_energy = [c for c in ok if c.energy is not None and c.energy.mj_per_inference is not None]
    if with_energy:
        out.append(("chart-energy", "energy per inference against p50 latency", energy_chart(with_energy)))
    long_runs = [r for r in sustained_runs(ok) if r.windows]
    if long_runs:
        out.append(("chart-sustained", "; ".join(describe(r) for r in long_runs), sustained_chart(long_runs)))

    return out + op_charts(ok)
