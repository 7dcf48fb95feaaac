"""Decisions on independent repeats, with scipy.stats.

Latency: each side is its repeats' medians (throttled repeats left out), never the samples inside
one run. The change is the ratio of the medians of repeat medians, with a bootstrap interval; its
significance is the smaller p of a one-sided Mann-Whitney U and a one-sided two-sample
Kolmogorov-Smirnov test (as Chromium's Pinpoint does). Three outcomes:

* ``regressed``: significant (p <= alpha) and the rise exceeds the tolerated one;
* ``no regression``: the interval's upper end is below the tolerated rise, which means the data
  rule out every slowdown above that end (reported as the smallest slowdown it could detect);
* ``inconclusive``: neither; more repeats decide it.

Accuracy, when both runs kept each image's top-1 outcome on the same images, is judged paired:
McNemar's exact test (a binomial test on the images one side got right and the other wrong).
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

from host.gate.options import Thresholds

REGRESSED, NO_REGRESSION, INCONCLUSIVE = "regressed", "no regression", "inconclusive"


@dataclass(frozen=True)
class Decision:
    verdict: str
    change: float | None = None  # relative (0.05: 5% slower) or points of top-1 lost
    low: float | None = None
    high: float | None = None
    p: float | None = None
    note: str = ""


def relative_change_interval(base: Sequence[float], current: Sequence[float], confidence: float) -> tuple[float, float]:
    """Bootstrap interval of median(current) / median(base) - 1."""
    a, b = np.asarray(base, dtype=float), np.asarray(current, dtype=float)
    if np.ptp(a) == 0 and np.ptp(b) == 0:
        value = float(np.median(b) / np.median(a) - 1)
        return value, value
    result = stats.bootstrap(
        (a, b),
        lambda x, y, axis: np.median(y, axis=axis) / np.median(x, axis=axis) - 1,
        vectorized=True,
        confidence_level=confidence,
        n_resamples=4000,
        method="percentile",
        random_state=0,
    )
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


def slower_p(base: Sequence[float], current: Sequence[float]) -> float:
    """How likely a shift this large toward ``current`` being slower is, if nothing changed."""
    u = stats.mannwhitneyu(current, base, alternative="greater").pvalue
    ks = stats.ks_2samp(current, base, alternative="less").pvalue  # current's CDF below: current slower
    return float(min(u, ks))


def latency(base: Sequence[float], current: Sequence[float], limits: Thresholds) -> Decision:
    if min(len(base), len(current)) < limits.min_repeats:
        change = statistics.median(current) / statistics.median(base) - 1 if base and current else None
        return Decision(
            INCONCLUSIVE,
            change,
            note=f"{len(base)} and {len(current)} repeats: at least {limits.min_repeats} "
            "per side decide (bench with --repeats, or use host compare)",
        )
    change = statistics.median(current) / statistics.median(base) - 1
    low, high = relative_change_interval(base, current, limits.confidence)
    p = slower_p(base, current)
    limit = limits.latency_limit
    if p <= limits.alpha and change > limit:
        return Decision(REGRESSED, change, low, high, p)
    if high < limit:
        return Decision(NO_REGRESSION, change, low, high, p, f"slowdowns above {100 * max(high, 0):.1f}% ruled out")
    return Decision(
        INCONCLUSIVE, change, low, high, p, f"cannot rule out a slowdown above {100 * limit:g}%: add repeats"
    )


def energy(base: Sequence[float], current: Sequence[float], limits: Thresholds) -> Decision:
    """Energy per inference, one figure per repeat on each side: Welch's t-test (one-sided: more
    energy now) and its interval on the difference of means, relative to the baseline's mean.
    A few repeats per side decide, since each figure already averages thousands of inferences."""
    if min(len(base), len(current)) < 2:
        return Decision(INCONCLUSIVE, note="fewer than two energy repeats on a side")
    before = statistics.fmean(base)
    change = statistics.fmean(current) / before - 1
    if np.ptp(base) == 0 and np.ptp(current) == 0:
        low = high = change
        p = 0.0 if change > 0 else 1.0
    else:
        p = float(stats.ttest_ind(current, base, equal_var=False, alternative="greater").pvalue)
        both = stats.ttest_ind(current, base, equal_var=False).confidence_interval(limits.confidence)
        low, high = float(both.low) / before, float(both.high) / before
    limit = limits.energy_limit
    if p <= limits.alpha and change > limit:
        return Decision(REGRESSED, change, low, high, p)
    if high < limit:
        return Decision(NO_REGRESSION, change, low, high, p, f"rises above {100 * max(high, 0):.1f}% ruled out")
    return Decision(INCONCLUSIVE, change, low, high, p, f"cannot rule out a rise above {100 * limit:g}%: add repeats")


def accuracy_paired(base: np.ndarray, current: np.ndarray, labelled: int, limits: Thresholds) -> Decision:
    """McNemar's exact test on per-image top-1 outcomes (the same images on both sides; an
    unlabelled image is wrong on both, so it never counts as lost or gained)."""
    lost = int(np.sum(base & ~current))
    gained = int(np.sum(~base & current))
    drop = 100.0 * (lost - gained) / max(labelled, 1)
    p = float(stats.binomtest(lost, lost + gained, 0.5, alternative="greater").pvalue) if lost + gained else 1.0
    note = f"paired on {labelled} images: {lost} lost, {gained} gained (McNemar)"
    if p <= limits.alpha and drop > limits.max_accuracy_drop:
        return Decision(REGRESSED, drop, p=p, note=note)
    return Decision(NO_REGRESSION, drop, p=p, note=note)


def accuracy_unpaired(base_top1: float, current_top1: float, limits: Thresholds) -> Decision:
    drop = 100.0 * (base_top1 - current_top1)
    verdict = REGRESSED if drop > limits.max_accuracy_drop else NO_REGRESSION
    return Decision(verdict, drop, note="unpaired (no per-image outcomes stored)")


@dataclass(frozen=True)
class RepeatSummary:
    """A cell's repeats in one line: the median of their medians, its interval, their spread."""

    median: float
    low: float | None  # None below three repeats: no interval worth printing
    high: float | None
    cv: float  # between-repeat coefficient of variation (std / mean of the repeat medians)
    count: int


def summarize_repeats(medians: Sequence[float], confidence: float = 0.95) -> RepeatSummary:
    values = np.asarray(medians, dtype=float)
    cv = float(values.std(ddof=1) / values.mean()) if len(values) > 1 and values.mean() > 0 else 0.0
    low = high = None
    if len(values) >= 3:
        if np.ptp(values) == 0:
            low = high = float(values[0])
        else:
            ci = stats.bootstrap(
                (values,), np.median, confidence_level=confidence, n_resamples=2000, method="percentile", random_state=0
            ).confidence_interval
            low, high = float(ci.low), float(ci.high)
    return RepeatSummary(float(np.median(values)), low, high, cv, len(values))
