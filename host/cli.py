"""The ``host`` command: parse options, call the library, turn errors into exit codes.

Nothing here measures or converts; each subcommand is a few lines over a library call. Every
``HostError`` ends as one line on stderr and its exit code (2 for bad input), never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from host import __version__
from host.errors import HostError

Command = Callable[[argparse.Namespace], int]


def _add_convert(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("convert", help="convert a Keras/TensorFlow model to TFLite in quantization modes")
    p.add_argument("model", help=".keras/.h5 file, SavedModel folder, or a built-in name (demo, mobilenet_v2, ...)")
    p.add_argument("--modes", default="all", help="comma-separated modes, post_training, or all (default: all)")
    p.add_argument("--out", required=True, type=Path, help="folder for <mode>.tflite and manifest.json")
    _add_model_options(p)
    p.set_defaults(run=_run_convert)


def _add_model_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--weights", help="built-in models: 'none' for random weights, or a weights file path")
    p.add_argument("--calibration", type=Path, help="image folder for integer-mode calibration")
    p.add_argument("--calibration-count", type=int, default=100, help="calibration images (default 100)")
    p.add_argument("--io-type", choices=("uint8", "int8"), default="uint8", help="full_integer input/output type")
    p.add_argument("--preset", help="preprocessing preset: mobilenet, unit, caffe, torch, raw")
    p.add_argument("--train-data", type=Path, help="labelled image folder (class subfolders) for qat")
    p.add_argument("--qat-epochs", type=int, default=1, help="quantization-aware fine-tuning epochs (default 1)")
    p.add_argument("--no-cache", action="store_true", help="convert again even when a cached result exists")


def _run_convert(args: argparse.Namespace) -> int:
    from host.convert.service import convert_command
    from host.report.console import print_conversion

    report = convert_command(
        args.model, args.modes, args.out, weights=args.weights, calibration=args.calibration,
        calibration_count=args.calibration_count, io_type=args.io_type, preset=args.preset,
        train_data=args.train_data, qat_epochs=args.qat_epochs, use_cache=not args.no_cache,
    )
    print_conversion(report)
    return 1 if report.failed else 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="host", description="Quantize a model and measure it on Android devices.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    _add_convert(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    run: Command = args.run
    try:
        return run(args)
    except HostError as e:
        print(f"error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
