"""``host tune MODEL``: the fewest layers in float for an accuracy target, found on the device."""

from __future__ import annotations

import argparse
from pathlib import Path

from host.commands.spec import Command, store
from host.errors import ExitCode
from host.fsio import check_writable
from host.params import from_namespace
from host.quant.options import TuneOptions


def run(args: argparse.Namespace) -> int:
    from host.quant.tune import tune_command
    from host.report.progress import ProgressListener
    from host.report.tune import print_tune

    options = from_namespace(TuneOptions, args)
    check_writable(Path(options.out) / "tune.json", new_folder=True)
    if options.precisions is not None:
        return _precisions(options)
    with ProgressListener() as listener:
        result = tune_command(options, store(options.db), listener)
    print_tune(result)
    return ExitCode.OK if result.met else ExitCode.FAILED


def _precisions(options: TuneOptions) -> int:
    from host.quant.precision_tune import precision_tune_command
    from host.quant.precisions import parse_precisions
    from host.report.progress import ProgressListener
    from host.report.tune import print_precisions

    parse_precisions(options.precisions or "")  # a bad list fails before any work
    with ProgressListener() as listener:
        result = precision_tune_command(options, store(options.db), listener)
    print_precisions(result, Path(options.out))
    return ExitCode.OK if result.met else ExitCode.FAILED


COMMAND = Command(
    "tune",
    "find on the device the fewest layers to keep in float for an accuracy target; writes the tuned build folder",
    run,
    (TuneOptions,),
)
