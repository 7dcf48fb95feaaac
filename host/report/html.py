"""One self-contained HTML page: the tables and three matplotlib charts as embedded PNGs.

Charts: p50 latency per mode and backend (bars, whiskers to p90); accuracy against model size;
latency distributions from the raw samples. Only measured cells are drawn.
"""

from __future__ import annotations

import base64
import html
import io
from typing import Any

from host.report.tables import build_tables, device_line, modes_backends
from host.results import RunRecord

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem; color: #1d1d1f; max-width: 1200px; }
table { border-collapse: collapse; margin: 0.5rem 0 1.5rem; }
th, td { border: 1px solid #ccc; padding: 4px 10px; text-align: right; }
th:first-child, td:first-child { text-align: left; }
th { background: #f2f2f2; }
td.bad { color: #a33; } .notes { color: #555; font-size: 0.9rem; }
figure { margin: 1rem 0 2rem; } figcaption { color: #555; }
"""


def _figure_png(fig: Any) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode()


def charts(run: RunRecord, serial: str) -> list[tuple[str, str, str]]:
    """(chart id, caption, base64 PNG) for one device's measured cells."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ok = [c for c in run.cells if c.device == serial and c.ok and c.result.latency]
    if not ok:
        return []
    modes, backends = modes_backends(ok, run)
    grid = {(c.mode, c.backend): c.result.latency for c in ok if c.result.latency}
    out = []

    fig, ax = plt.subplots(figsize=(max(6, 1.3 * len(modes)), 4))
    width = 0.8 / max(1, len(backends))
    for i, backend in enumerate(backends):
        xs: list[float] = []
        p50: list[float] = []
        upper: list[float] = []
        for j, mode in enumerate(modes):
            latency = grid.get((mode, backend))
            if latency:
                xs.append(j + i * width)
                p50.append(latency.p50)
                upper.append(latency.p90 - latency.p50)
        ax.bar(xs, p50, width, yerr=[[0] * len(upper), upper], capsize=3, label=backend)
    ax.set_xticks([j + width * (len(backends) - 1) / 2 for j in range(len(modes))], modes, rotation=20)
    ax.set_ylabel("latency p50 (ms), whisker to p90")
    ax.set_title("Latency per mode and backend")
    ax.legend()
    out.append(("chart-latency", "p50 latency per mode and backend (whiskers reach p90)", _figure_png(fig)))

    # (size MB, top-1 %) of the first measured backend per mode
    points: dict[str, tuple[float, float]] = {}
    scored_backend = ""
    for c in ok:
        if c.result.accuracy and c.size_bytes and c.mode not in points:
            points[c.mode] = (c.size_bytes / 1e6, 100 * c.result.accuracy.top1)
            scored_backend = scored_backend or c.backend
    if points:
        fig, ax = plt.subplots(figsize=(6, 4))
        for mode, (size_mb, top1) in points.items():
            ax.scatter(size_mb, top1, s=40)
            ax.annotate(mode, (size_mb, top1), textcoords="offset points", xytext=(5, 4))
        tops = [top1 for _, top1 in points.values()]
        ax.set_ylim(max(0.0, min(tops) - 2.0), min(100.0, max(tops)) + 1.0)
        ax.set_xlabel("model size (MB)")
        ax.set_ylabel("top-1 accuracy (%)")
        ax.set_title(f"Accuracy against size ({scored_backend})")
        out.append(("chart-accuracy-size", "top-1 accuracy against model size", _figure_png(fig)))

    with_samples = [c for c in ok if c.result.latency and c.result.latency.samples_ms]
    if with_samples:
        fig, axes = plt.subplots(1, len(backends), figsize=(max(6, 3.5 * len(backends)), 4), squeeze=False)
        for ax, backend in zip(axes[0], backends, strict=True):
            cells = [c for c in with_samples if c.backend == backend]
            if cells:
                ax.boxplot([list(c.result.latency.samples_ms) for c in cells if c.result.latency],
                           tick_labels=[c.mode for c in cells], showfliers=False)
            ax.set_title(backend)
            ax.tick_params(axis="x", rotation=45)
            ax.set_ylabel("ms")
        fig.suptitle("Latency distributions (raw samples, outliers hidden)")
        out.append(("chart-latency-distribution", "latency distributions from raw samples", _figure_png(fig)))
    return out


def _table_html(title: str, header: tuple[str, ...], rows: tuple[tuple[str, ...], ...]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(
            f'<td class="bad">{html.escape(v)}</td>' if v.startswith(("unavailable", "failed")) else f"<td>{html.escape(v)}</td>"
            for v in row
        ) + "</tr>"
        for row in rows
    )
    return f"<h3>{html.escape(title)}</h3><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def to_html(run: RunRecord) -> str:
    parts = [f"<h1>{html.escape(run.model.name)}: quantization benchmark</h1>",
             f"<p>Run {html.escape(run.run_id)}, started {html.escape(run.started)}; dataset "
             f"{html.escape(run.dataset.name or 'none')} ({run.dataset.count} images).</p>"]
    for section in build_tables(run):
        parts.append(f"<h2>{html.escape(device_line(run, section.device))}</h2>")
        for table in section.tables:
            parts.append(_table_html(table.title, table.header, table.rows))
        if section.footnotes:
            parts.append('<ol class="notes">' + "".join(f"<li>{html.escape(r)}</li>" for r in section.footnotes) + "</ol>")
        for chart_id, caption, png in charts(run, section.device):
            parts.append(f'<figure id="{chart_id}"><img alt="{html.escape(caption)}" src="data:image/png;base64,{png}">'
                         f"<figcaption>{html.escape(caption)}</figcaption></figure>")
    if run.notes:
        parts.append('<ul class="notes">' + "".join(f"<li>{html.escape(n)}</li>" for n in run.notes) + "</ul>")
    # After load, record how many chart images decoded: a quick self-check for people and tests.
    check = ("<script>window.addEventListener('load',function(){var n=0;document.querySelectorAll('figure img')"
             ".forEach(function(i){if(i.naturalWidth>0)n++;});document.body.setAttribute('data-charts-rendered',n);});</script>")
    parts.append(check)
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(run.model.name)} - {html.escape(run.run_id)}</title>"
            f"<style>{_STYLE}</style></head><body>{''.join(parts)}</body></html>\n")
