"""``host debug MODEL``: the integer build's error per layer and channel, optionally its device time."""

from __future__ import annotations

import argparse
from pathlib import Path

from host.commands.spec import Command, say, store
from host.errors import ExitCode
from host.fsio import check_writable
from host.params import from_namespace
from host.quant.options import DebugOptions


def run(args: argparse.Namespace) -> int:
    from host.quant.service import debug_command
    from host.report.debug import print_debug, write_debug

    options = from_namespace(DebugOptions, args)
    if options.out:
        check_writable(Path(options.out) / "debug.json", new_folder=True)
    report, integer_build = debug_command(options, say)
    device_time = None
    if options.device_time or options.device:
        from host.quant.device_time import measure_build
        from host.report.progress import ProgressListener

        with ProgressListener() as listener:
            device_time = measure_build(integer_build, options, store(options.db), listener)
    print_debug(report, options.top, device_time=device_time)
    written = write_debug(report, integer_build, Path(options.out)) if options.out else {}
    for path in written.values():
        print(f"wrote {path}")
    if written:
        print(
            f"see the graph coloured by error: model-explorer {written[f'{report.mode}.tflite']} "
            f"--node_data_paths={written['model-explorer.json']}"
        )
    return ExitCode.OK


COMMAND = Command(
    "debug",
    "per-layer quantization error of the integer build, per tensor and per channel, mapped to Keras "
    "layers and ranked, suspects marked",
    run,
    (DebugOptions,),
)
