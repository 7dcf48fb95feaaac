"""``host bench``: convert, push and measure; the tables, the recommendation, the files asked for."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

from device_agent.contract import FAILING
from host.bench.config import BenchConfig, BenchOutputs
from host.commands.spec import Command, store, writable
from host.errors import ExitCode
from host.fsio import atomic_write
from host.params import from_namespace
from host.paths import run_folder
from host.results import RunRecord


def run(args: argparse.Namespace) -> int:
    from host.bench.run import run_bench
    from host.bench.views import parse_tables
    from host.report.console import print_run
    from host.report.progress import ProgressListener

    config, outputs = from_namespace(BenchConfig, args), from_namespace(BenchOutputs, args)
    writable(outputs.json, outputs.report)
    with ProgressListener() as listener:
        record = run_bench(config, store(outputs.db), listener, resume=outputs.resume)
    print_run(record, tables=parse_tables(outputs.shown_tables))
    write_reports(record, outputs.report, outputs.json)
    # a numerics cell (NaN, Inf or all-zero outputs) is a failed cell: the build does not work there
    return ExitCode.FAILED if any(c.status in FAILING for c in record.cells) else ExitCode.OK


def write_reports(record: RunRecord, report: str | None, json_path: str | None) -> None:
    """The pick and its reason, then the HTML report and the JSON, every run: into the run's
    folder unless --report/--json name files; their paths are the last lines printed."""
    from host.quant.pareto import recommend
    from host.report.formats import to_json
    from host.report.html import to_html

    recommendation = recommend(record)  # once: the console line and the report's front agree
    print(
        ("recommended: " if recommendation.pick else "no recommendation: ")
        + recommendation.reason
        + (f" (limits and the front: host recommend {record.run_id})" if recommendation.pick else "")
    )
    folder = run_folder(record.run_id)
    outputs: tuple[tuple[str, Path, Callable[[], str]], ...] = (
        ("json", Path(json_path) if json_path else folder / "run.json", lambda: to_json(record)),
        ("report", Path(report) if report else folder / "report.html", lambda: to_html(record, recommendation)),
    )
    for label, path, text in outputs:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write(path, text())
        except OSError as e:  # the results are in the store already; say what could not be written
            print(f"could not write the {label} to {path}: {e.strerror or e}")
            continue
        print(f"{label}: {path}")


COMMAND = Command(
    "bench", "convert, push, and measure every mode x backend on a device", run, (BenchConfig, BenchOutputs)
)
