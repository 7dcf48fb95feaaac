"""``host recommend RUN``: the Pareto front of a run's builds and the one to ship."""

from __future__ import annotations

import argparse
from pathlib import Path

from host.commands.spec import Command, store, writable
from host.errors import ExitCode
from host.fsio import atomic_write
from host.params import from_namespace
from host.quant.options import RecommendOptions


def run(args: argparse.Namespace) -> int:
    from host.quant.pareto import recommend
    from host.report.console import print_recommendation
    from host.report.html import to_html
    from host.store import read_run

    options = from_namespace(RecommendOptions, args)
    writable(options.report)
    record = read_run(options.run_id, store(options.db))
    recommendation = recommend(
        record,
        max_size=options.max_size,
        max_latency=options.max_latency,
        min_accuracy=options.min_accuracy,
        min_snr=options.min_snr,
        backend=options.backend,
        device=options.device,
        prefer=options.prefer,
    )
    print_recommendation(recommendation)
    if options.report:
        atomic_write(Path(options.report), to_html(record, recommendation))
        print(f"wrote {options.report}")
    return ExitCode.OK if recommendation.pick else ExitCode.FAILED


COMMAND = Command(
    "recommend", "the Pareto front of a run's builds and the one to ship, with the reason", run, (RecommendOptions,)
)
