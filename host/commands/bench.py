"""``host bench``: convert, push and measure; the tables, the recommendation, the files asked for."""

from __future__ import annotations

import argparse
from pathlib import Path

from host.bench.config import BenchConfig, BenchOutputs
from host.commands.spec import Command, store, writable
from host.errors import ExitCode
from host.fsio import atomic_write
from host.params import from_namespace


def run(args: argparse.Namespace) -> int:
    from host.bench.run import run_bench
    from host.quant.pareto import recommend
    from host.report.console import print_run
    from host.report.formats import to_json
    from host.report.html import to_html
    from host.report.progress import ProgressListener

    config, outputs = from_namespace(BenchConfig, args), from_namespace(BenchOutputs, args)
    writable(outputs.json, outputs.report)
    with ProgressListener() as listener:
        record = run_bench(config, store(outputs.db), listener, resume=outputs.resume)
    print_run(record)
    recommendation = recommend(record)  # once: the console line and the report's front agree
    if recommendation.pick:
        print(f"recommended: {recommendation.reason} (limits and the front: host recommend {record.run_id})")
    for path, text in ((outputs.json, lambda: to_json(record)), (outputs.report, lambda: to_html(record, recommendation))):
        if path:
            atomic_write(Path(path), text())
            print(f"wrote {path}")
    # a numerics cell (NaN, Inf or all-zero outputs) is a failed cell: the build does not work there
    return ExitCode.FAILED if any(c.status in ("failed", "numerics") for c in record.cells) else ExitCode.OK


COMMAND = Command("bench", "convert, push, and measure every mode x backend on a device", run, (BenchConfig, BenchOutputs))
