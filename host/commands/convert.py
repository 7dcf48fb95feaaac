"""``host convert MODEL --modes LIST --out DIR``."""

from __future__ import annotations

import argparse

from host.commands.spec import Command
from host.convert.options import ConvertConfig
from host.errors import ExitCode
from host.params import from_namespace


def run(args: argparse.Namespace) -> int:
    from host.convert.service import convert_command
    from host.report.console import print_conversion
    from host.report.progress import ProgressListener

    with ProgressListener() as listener:
        report = convert_command(from_namespace(ConvertConfig, args), listener, say=listener.stage)
    print_conversion(report)
    return ExitCode.FAILED if report.failed else ExitCode.OK


COMMAND = Command("convert", "convert a Keras/TensorFlow model to TFLite in quantization modes", run, (ConvertConfig,))
