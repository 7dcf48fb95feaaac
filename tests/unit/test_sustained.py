"""Reports of repeated and sustained runs: repeat summaries in the latency table, windows and the
throttle onset of a long run."""

from __future__ import annotations

from dataclasses import replace

from host.report.formats import to_markdown
from host.report.sustained import onset, sustained_runs, windows
from host.report.tables import device_tables
from host.results import RepeatRecord
from tests.records import cell as _cell
from tests.records import run as _run


def _long_run(minutes: float, slower_after_s: float, factor: float) -> tuple[float, ...]:
    """Back-to-back 50 ms invokes that become ``factor`` times slower after ``slower_after_s``."""
    samples, elapsed = [], 0.0
    while elapsed < minutes * 60:
        value = 50.0 * (factor if elapsed >= slower_after_s else 1.0)
        samples.append(value)
        elapsed += value / 1000
    return tuple(samples)


def test_windows_cover_the_run_and_the_onset_is_the_first_window_10_percent_slower():
    samples = _long_run(10, slower_after_s=240, factor=1.3)
    found = windows(samples)
    assert len(found) == 20 and found[0].start_s == 0 and abs(found[1].start_s - 30) < 0.5
    assert sum(w.count for w in found) == len(samples)
    assert onset(found) == found[8].start_s and abs(found[8].start_s - 240) < 1
    assert onset(windows(_long_run(10, 240, 1.05))) is None, "5% slower is drift, not the throttle onset"
    assert windows(()) == () and len(windows((10.0, 10.0))) == 1, "a short run is one window"


def test_the_latency_table_shows_repeats_and_the_report_describes_the_sustained_run():
    long = RepeatRecord(0, 99, 60.0, _long_run(5, 120, 1.5), kind="sustained")
    measured = _cell("A", "none", "cpu1", medians=(10.0, 10.4, 9.8, 10.1), throttled=(14.0,))
    measured = replace(measured, repeats=(*measured.repeats, long))
    run = replace(_run("r", [measured, _cell("A", "none", "cpu4")]), config={"order": "shuffled", "seed": 42})
    latency = next(t for t in device_tables(run, "A").tables if t.title.startswith("Latency"))
    row = dict(zip(latency.header, latency.rows[0], strict=False))
    assert row["cpu1"].startswith("10.050 [") and "cv 2.5%" in row["cpu1"] and "(n=4, 1 throttled)" in row["cpu1"]
    assert row["cpu4"] == "1.000 ±0.102", "a single run keeps its own spread"
    text = to_markdown(run)
    assert "order shuffled, seed 42; 1 throttled repeat(s) left out" in text
    (sustained,) = sustained_runs(list(run.cells))
    assert abs(sustained.onset_s - 120) < 16 and "throttle onset after 2." in text and "+50.0%" in text


def test_with_one_repeat_a_throttled_run_is_the_figure_and_is_marked_not_said_left_out():
    hot = _cell("A", "none", "cpu1", medians=(), throttled=(14.0,))
    run = replace(_run("r", [hot, _cell("A", "none", "cpu4", medians=(1.0,))]), config={"order": "shuffled", "seed": 7})
    tables = device_tables(run, "A")
    latency = next(t for t in tables.tables if t.title.startswith("Latency"))
    row = dict(zip(latency.header, latency.rows[0], strict=False))
    assert row["cpu1"].endswith("(throttled)") and not row["cpu4"].endswith("(throttled)")
    assert "1 repeat(s) per cell, each in a fresh worker, order shuffled, seed 7" in tables.lines
    assert not any("left out" in line for line in tables.lines if line.startswith("1 repeat"))
    assert any(line.startswith("1 cell(s) measured while throttled: fewer than two") for line in tables.lines)
