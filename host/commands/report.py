"""``host report RUN``: a stored run as tables, Markdown, CSV, JSON or HTML; its per-op profile."""

from __future__ import annotations

import argparse

from host.commands.spec import Command, emit, store
from host.errors import ExitCode
from host.params import from_namespace
from host.report.options import ReportOptions


def run(args: argparse.Namespace) -> int:
    from host.bench.views import DEFAULT_TABLES, TABLE_NAMES, parse_tables
    from host.report.console import print_run
    from host.report.formats import RENDERERS, to_markdown
    from host.store import read_run

    options = from_namespace(ReportOptions, args)
    record = read_run(options.run_id, store(options.db))
    if options.ops or options.cell or options.top:
        from host.report.ops import render_ops

        return emit(render_ops(record, options.format, options.cell, options.top), options.output)
    if options.outputs:
        from host.report.formats import outputs_text

        return emit(outputs_text(record, options.format), options.output)
    tables = parse_tables(options.shown_tables)
    if options.format == "table" and not options.output:
        print_run(record, tables=tables)
        return ExitCode.OK
    if options.format in ("table", "md"):
        return emit(to_markdown(record, tables=tables if tables != DEFAULT_TABLES else TABLE_NAMES), options.output)
    return emit(RENDERERS[options.format](record), options.output)


COMMAND = Command("report", "show or export a stored run", run, (ReportOptions,))
