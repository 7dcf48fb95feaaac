"""The timing loop and statistics, on a fake invoke whose durations we control."""

from __future__ import annotations

import pytest

from device_agent.measuring import measure


def test_warmup_is_kept_out_and_minimums_are_both_met():
    calls = []
    params = measure.LatencyParams(warmup_runs=3, warmup_seconds=0.0, min_runs=25, min_seconds=0.02, max_seconds=5)
    samples = measure.run_timing_loop(lambda: calls.append(1), params)
    assert len(samples.warmup_ms) == 3
    assert len(samples.timed_ms) >= 25
    assert len(calls) == len(samples.warmup_ms) + len(samples.timed_ms)


def test_max_seconds_caps_the_run():
    """With a million runs asked for, the loop stops once max_seconds of wall time have passed:
    the timing took at least the cap and at most about one invoke more; the samples (each 1 ms
    invoke is recorded) fit inside that time (a busy machine adds gaps between invokes)."""
    import time

    params = measure.LatencyParams(warmup_runs=1, warmup_seconds=0, min_runs=10**6, min_seconds=0, max_seconds=0.05)
    started = time.perf_counter()
    samples = measure.run_timing_loop(lambda: time.sleep(0.001), params)
    wall = time.perf_counter() - started
    total = sum(samples.timed_ms) / 1000.0
    assert wall >= 0.05 and total <= wall
    assert len(samples.timed_ms) < 10**6 and len(samples.timed_ms) <= 0.05 / 0.001 + 1


def test_listener_sees_every_timed_run():
    seen = []
    listener = measure.LatencyListener(on_run_end=lambda i, ms: seen.append((i, ms)))
    samples = measure.run_timing_loop(
        lambda: None, measure.LatencyParams(warmup_runs=1, warmup_seconds=0, min_runs=7, min_seconds=0), listener
    )
    assert [i for i, _ in seen] == list(range(1, len(samples.timed_ms) + 1))


def test_loadgen_percentiles_and_moments():
    stats = measure.summarize([float(v) for v in range(1, 101)])
    assert (stats.min, stats.max, stats.count) == (1.0, 100.0, 100)
    assert (stats.p50, stats.p90, stats.p95, stats.p99) == (51.0, 91.0, 96.0, 100.0)
    assert stats.mean == pytest.approx(50.5)
    assert stats.std == pytest.approx(28.866, rel=1e-3)
    one = measure.summarize([4.0])
    assert one.p50 == one.p99 == one.min == one.max == 4.0 and one.std == 0.0


@pytest.mark.parametrize(
    "bad",
    [dict(min_runs=0), dict(max_seconds=0), dict(min_seconds=5, max_seconds=1), dict(warmup_runs=-1)],
)
def test_impossible_parameters_are_rejected_before_work(bad):
    with pytest.raises(ValueError):
        measure.LatencyParams(**bad).validate()
