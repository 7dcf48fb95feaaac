"""One self-contained HTML page: the tables and three matplotlib charts as embedded PNGs.

Charts: p50 latency per mode and backend (bars, whiskers to p90); accuracy against model size;
latency distributions from the raw samples; sustained runs in windows with the throttle onset.
Only measured cells are drawn. Repeats are listed with the phone's temperature and thermal
status around each, in the order they ran.
"""

from __future__ import annotations

import html

from host.quant.pareto import Recommendation, metric_name, recommend
from host.report.charts import charts, pareto_chart
from host.report.tables import RunTables, build_tables, cross_device, device_line, output_fidelity_table, repeats_table
from host.results import RunRecord

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 1rem; color: #1d1d1f; max-width: 1200px; }
.scroll { overflow-x: auto; max-width: 100%; }
img { max-width: 100%; height: auto; }
details { margin: 0.5rem 0; } summary { cursor: pointer; font-weight: 600; }
p, li, figcaption, h1, h2, h3 { overflow-wrap: anywhere; }
table { border-collapse: collapse; margin: 0.5rem 0 1.5rem; }
th, td { border: 1px solid #ccc; padding: 4px 10px; text-align: right; }
th:first-child, td:first-child { text-align: left; }
th { background: #f2f2f2; }
td.bad { color: #a33; } .notes { color: #555; font-size: 0.9rem; }
figure { margin: 1rem 0 2rem; } figcaption { color: #555; }
"""


def _table_html(title: str, header: tuple[str, ...], rows: tuple[tuple[str, ...], ...]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="bad">{html.escape(v)}</td>'
            if v.startswith(("unavailable", "failed", "fallback", "numerics"))
            else f"<td>{html.escape(v)}</td>"
            for v in row
        )
        + "</tr>"
        for row in rows
    )
    table = f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
    return f'<h3>{html.escape(title)}</h3><div class="scroll">{table}</div>'


def _details(summary: str, inner: str, open_: bool = False) -> str:
    """A section a reader opens when they want it: the page leads with the answer."""
    return f"<details{' open' if open_ else ''}><summary>{html.escape(summary)}</summary>{inner}</details>"


def recommendation_html(recommendation: Recommendation) -> list[str]:
    """The report's first section: the build to ship, why, and accuracy against latency."""
    if recommendation.pick is None:
        return [
            f'<section id="recommendation"><h2>Which build to '
            f"ship</h2><p>{html.escape(recommendation.reason)}</p></section>"
        ]
    metric = recommendation.metric
    png = pareto_chart(list(recommendation.builds), recommendation.pick, metric)
    front = ", ".join(b.label for b in recommendation.front)
    quality = metric_name(metric, recommendation.builds)
    excluded = "".join(
        f"<li>{html.escape(label)}: {html.escape(why)}</li>" for label, why in recommendation.excluded.items()
    )
    return [
        f'<section id="recommendation"><h2>Which build to ship: {html.escape(recommendation.pick.label)}</h2>'
        f"<p><strong>{html.escape(recommendation.reason)}</strong></p>"
        f'<p class="notes">Pareto front ({html.escape(quality)}, latency, size) on '
        f"{html.escape(recommendation.device)}: "
        f"{html.escape(front)}</p>"
        + (
            _details(
                f"Never picked ({len(recommendation.excluded)})", f'<ul class="notes" id="excluded">{excluded}</ul>'
            )
            if excluded
            else ""
        )
        + f'<figure id="chart-pareto"><img alt="{html.escape(quality)} against latency" '
        f'src="data:image/png;base64,{png}">'
        f"<figcaption>{html.escape(quality)} against p50 latency; dashed: the front; star: the recommended build"
        "</figcaption></figure></section>"
    ]


# After load, record how many chart images decoded and by how many pixels the page is wider than
# the window (0: no horizontal scrolling): a self-check for people and tests.
_SELF_CHECK = (
    "<script>window.addEventListener('load',function(){var n=0;document.querySelectorAll('figure img')"
    ".forEach(function(i){if(i.naturalWidth>0)n++;});document.body.setAttribute('data-charts-rendered',n);"
    "var d=document.documentElement;"
    "document.body.setAttribute('data-overflow-px',Math.max(0,d.scrollWidth-d.clientWidth));"
    "});</script>"
)


def _notes(lines: tuple[str, ...] | list[str]) -> list[str]:
    return [f'<p class="notes">{html.escape(line)}</p>' for line in lines]


def _device_html(run: RunRecord, section: RunTables) -> list[str]:
    """One device: the summary and what qualifies it, the charts, then the details folded."""
    summary, *details = section.tables
    parts = [
        f"<h2>{html.escape(device_line(run, section.device))}</h2>",
        _table_html(summary.title, summary.header, summary.rows),
        *_notes(section.folded),
    ]
    if section.footnotes:
        parts.append('<ol class="notes">' + "".join(f"<li>{html.escape(r)}</li>" for r in section.footnotes) + "</ol>")
    parts += _notes(section.headline)
    for chart_id, caption, png in charts(run, section.device):
        parts.append(
            f'<figure id="{chart_id}"><img alt="{html.escape(caption)}" src="data:image/png;base64,{png}">'
            f"<figcaption>{html.escape(caption)}</figcaption></figure>"
        )
    parts += [_details(t.title, _table_html(t.title, t.header, t.rows)) for t in details]
    if section.lines:
        parts.append(_details("How it was measured", "".join(_notes(section.lines))))
    outputs = output_fidelity_table(run, section.device)
    several = any(len(c.result.fidelity.outputs) > 1 for c in run.cells if c.result.fidelity)
    for extra in (outputs if several else None, repeats_table(run, section.device)):
        if extra is not None:
            parts.append(_details(extra.title, _table_html(extra.title, extra.header, extra.rows)))
    return parts


def to_html(run: RunRecord, recommendation: Recommendation | None = None) -> str:
    parts = [
        f"<h1>{html.escape(run.model.name)}: quantization benchmark</h1>",
        f"<p>Run {html.escape(run.run_id)}, started {html.escape(run.started)}; dataset "
        f"{html.escape(run.dataset.name or 'none')} ({run.dataset.count} images).</p>",
        *recommendation_html(recommendation or recommend(run)),
    ]
    for section in build_tables(run):
        parts += _device_html(run, section)
    farm = cross_device(run)
    if farm is not None:
        parts.append(_table_html(farm.title, farm.header, farm.rows))
    if run.notes:
        parts.append('<ul class="notes">' + "".join(f"<li>{html.escape(n)}</li>" for n in run.notes) + "</ul>")
    parts.append(_SELF_CHECK)
    head = (
        f"<meta charset='utf-8'><meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{html.escape(run.model.name)} - {html.escape(run.run_id)}</title><style>{_STYLE}</style>"
    )
    return f"<!doctype html><html><head>{head}</head><body>{''.join(parts)}</body></html>\n"
