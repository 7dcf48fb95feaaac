"""The gate's thresholds and inputs, as declared parameters (``host check`` and ``host compare``)."""

from __future__ import annotations

from dataclasses import dataclass

from host.params import Param, at_least, between, validate
from host.store.location import DB


@dataclass(frozen=True)
class Thresholds:
    max_latency_increase: float = Param(
        5.0,
        "p50 latency rise tolerated; above it, a significant rise regresses",
        unit="% of the baseline",
        metavar="PCT",
        check=at_least(0),
    ).field()
    max_energy_increase: float = Param(
        10.0,
        "energy-per-inference rise tolerated, where both runs measured energy; above it, a significant rise regresses",
        unit="% of the baseline",
        metavar="PCT",
        check=at_least(0),
    ).field()
    min_effect: float = Param(
        2.0,
        "a latency change smaller than this is never called a regression, whatever --max-latency-increase says",
        unit="%",
        metavar="PCT",
        check=at_least(0),
    ).field()
    max_accuracy_drop: float = Param(
        1.0, "top-1 accuracy drop tolerated", unit="percentage points", metavar="POINTS", check=at_least(0)
    ).field()
    alpha: float = Param(
        0.01,
        "significance level: a change must be at least this unlikely under no change",
        metavar="P",
        check=between(1e-12, 0.5),
    ).field()
    confidence: float = Param(
        0.95, "confidence of the interval on the latency change", metavar="LEVEL", check=between(0.5, 0.999)
    ).field()
    min_repeats: int = Param(
        5,
        "repeats per side below which latency is not judged (inconclusive); 5 is the fewest at "
        "which a rank test can reach p=0.01",
        unit="repeats",
        metavar="N",
        check=at_least(2),
    ).field()
    inconclusive: str = Param(
        "pass", "what an undecided cell does to the exit status: pass (a warning) or fail", choices=("pass", "fail")
    ).field()

    def validate(self) -> None:
        validate(self)

    @property
    def energy_limit(self) -> float:
        """The relative rise in energy per inference a regression must exceed."""
        return max(self.max_energy_increase, self.min_effect) / 100.0

    @property
    def latency_limit(self) -> float:
        """The relative rise (0.05 for 5%) a regression must exceed."""
        return max(self.max_latency_increase, self.min_effect) / 100.0


@dataclass(frozen=True)
class CheckOptions:
    baseline: str = Param(
        "", "run id (or prefix, or latest) in --db, or a host bench --json file", metavar="RUN|FILE", required=True
    ).field()
    current: str = Param(
        "", "run id (or prefix, or latest) in --db, or a host bench --json file", metavar="RUN|FILE", required=True
    ).field()
    junit: str | None = Param(None, "write JUnit XML for the CI's test report", metavar="FILE").field()
    markdown: str | None = Param(None, "write the verdicts as Markdown, for a pull request", metavar="FILE").field()
    json: str | None = Param(None, "write the verdicts as JSON", metavar="FILE").field()
    db: str | None = DB.field()
    allow_different_inputs: bool = Param(
        False,
        "compare runs of different models or datasets (refused otherwise: the "
        "numbers would not measure the same thing)",
    ).field()
