"""``host check --baseline RUN --current RUN``: the release gate over two stored runs."""

from __future__ import annotations

import argparse

from host.commands.spec import Command, store, writable
from host.errors import ExitCode
from host.gate.options import CheckOptions, Thresholds
from host.params import from_namespace


def run(args: argparse.Namespace) -> int:
    from host.gate.output import write_outputs
    from host.gate.verdicts import check_same_inputs, compare
    from host.report.console import print_verdicts
    from host.store import read_run

    limits, options = from_namespace(Thresholds, args), from_namespace(CheckOptions, args)
    writable(options.junit, options.markdown, options.json)
    db = store(options.db)
    baseline, current = read_run(options.baseline, db), read_run(options.current, db)
    if not options.allow_different_inputs:
        check_same_inputs(baseline, current)
    verdicts = compare(baseline, current, limits)
    print_verdicts(verdicts, limits.inconclusive)
    for line in write_outputs(verdicts, options.junit, options.markdown, options.json):
        print(line)
    return ExitCode.FAILED if verdicts.failed(limits.inconclusive) else ExitCode.OK


COMMAND = Command("check", "compare a run with a baseline; exit 1 on regression", run, (CheckOptions, Thresholds))
