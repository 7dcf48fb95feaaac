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


def _add_adb_options(p: argparse.ArgumentParser, *, device: bool = True) -> None:
    p.add_argument("--adb-server", metavar="HOST:PORT", help="adb server to use (default: $ANDROID_ADB_SERVER_PORT or 5037 here)")
    if device:
        p.add_argument("--device", metavar="SERIAL", help="device serial (default: the only one attached, else the emulated device)")
        p.add_argument("--device-python", metavar="PATH", help="Python on the device (default: probe python3, Termux)")
        p.add_argument("--gpu-delegate", default="", metavar="LIB", help="GPU delegate library on the device")
        p.add_argument("--nnapi-delegate", default="", metavar="LIB", help="NNAPI delegate library on the device")


def _add_devices(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("devices", help="list ADB devices and emulated ones")
    _add_adb_options(p, device=False)
    p.set_defaults(run=_run_devices)
    emulator = sub.add_parser("emulator", help="start or stop the x86 emulated Android device")
    actions = emulator.add_subparsers(dest="action", required=True)
    start = actions.add_parser("start", help="start an emulated device; prints its serial last")
    start.add_argument("--port", type=int, default=0, help="TCP port of its adbd (default: a free one)")
    start.add_argument("--root", type=Path, help="sandbox folder standing in for the device filesystem")
    _add_adb_options(start, device=False)
    start.set_defaults(run=_run_emulator_start)
    stop = actions.add_parser("stop", help="disconnect and stop emulated devices")
    stop.add_argument("--serial")
    stop.add_argument("--all", action="store_true")
    _add_adb_options(stop, device=False)
    stop.set_defaults(run=_run_emulator_stop)
    doctor = sub.add_parser("doctor", help="what the device lacks for the agent, and how to fix it")
    _add_adb_options(doctor)
    doctor.set_defaults(run=_run_doctor)


def _run_devices(args: argparse.Namespace) -> int:
    from host.devices.service import describe_devices
    from host.report.console import print_devices

    print_devices(describe_devices(args.adb_server))
    return 0


def _run_emulator_start(args: argparse.Namespace) -> int:
    from host.devices.adb import parse_server
    from host.emulator import manager

    state = manager.start(parse_server(args.adb_server), args.port, args.root)
    print(f"sandbox {state.root}")
    print(state.serial)
    return 0


def _run_emulator_stop(args: argparse.Namespace) -> int:
    from host.devices.adb import parse_server
    from host.emulator import manager

    for serial in manager.stop(parse_server(args.adb_server), args.serial, args.all):
        print(f"stopped {serial}")
    return 0


def _run_doctor(args: argparse.Namespace) -> int:
    from host.devices.doctor import diagnose
    from host.devices.service import open_device
    from host.report.console import print_doctor

    checks = diagnose(open_device(args.adb_server, args.device), args.device_python, args.gpu_delegate, args.nnapi_delegate)
    print_doctor(checks)
    return 0 if all(c.ok for c in checks if c.name not in ("gpu delegate", "nnapi delegate", "nnapi")) else 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="host", description="Quantize a model and measure it on Android devices.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    _add_convert(sub)
    _add_devices(sub)
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
