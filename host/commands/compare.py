"""``host compare BASELINE CURRENT``: both builds on one device, interleaved, until decided."""

from __future__ import annotations

import argparse

from host.bench.config import NOT_FOR_COMPARE, BenchConfig, CompareOptions
from host.commands.spec import Command, store, writable
from host.errors import ExitCode
from host.gate.options import Thresholds
from host.params import from_namespace, params


def run(args: argparse.Namespace) -> int:
    from host.bench.compare import run_compare
    from host.gate.output import write_outputs
    from host.report.console import print_verdicts
    from host.report.progress import ProgressListener

    options, config, limits = (
        from_namespace(CompareOptions, args),
        from_namespace(BenchConfig, args),
        from_namespace(Thresholds, args),
    )
    writable(options.junit, options.markdown, options.json)
    with ProgressListener() as listener:
        result = run_compare(options, config, limits, store(options.db), listener)
    print_verdicts(result.verdicts, limits.inconclusive)
    print(
        f"{result.repeats} repeats per cell at most, {result.device_seconds / 60:.1f} min of device time; stopped: "
        f"{result.stopped}; stored as runs {result.baseline.run_id} (baseline) and {result.current.run_id} (current)"
    )
    for line in write_outputs(result.verdicts, options.junit, options.markdown, options.json):
        print(line)
    return ExitCode.FAILED if result.verdicts.failed(limits.inconclusive) else ExitCode.OK


COMMAND = Command(
    "compare",
    "measure two builds on one device, interleaved, until every cell is decided or the budget is spent; exit 1 "
    "on regression",
    run,
    (CompareOptions, Thresholds, BenchConfig),
    only={BenchConfig: [f.name for f, _ in params(BenchConfig) if f.name not in NOT_FOR_COMPARE]},
)
