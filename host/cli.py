"""The ``host`` command: parse options, call the library, turn errors into exit codes.

Nothing here measures or converts; each subcommand is a few lines over a library call. Every
``HostError`` ends as one line on stderr and its exit code (2 for bad input), never a traceback.
"""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from host import __version__
from host.convert.modes import IO_TYPES
from host.errors import HostError, InputError

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
    p.add_argument("--io-type", choices=IO_TYPES, default="uint8", help="full_integer input/output type")
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


def _add_adb_options(p: argparse.ArgumentParser, *, device: bool = True, many: bool = False) -> None:
    p.add_argument("--adb-server", metavar="HOST:PORT", help="adb server to use (default: $ANDROID_ADB_SERVER_PORT or 5037 here)")
    if device and many:
        p.add_argument("--device", metavar="SERIAL", action="append",
                       help="device serial; repeat to bench several devices at once (default: the only one attached, else the emulated device)")
    elif device:
        p.add_argument("--device", metavar="SERIAL", help="device serial (default: the only one attached, else the emulated device)")
    if device:
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

    stopped = manager.stop(parse_server(args.adb_server), args.serial, args.all)
    for serial in stopped:
        print(f"stopped {serial}")
    if not stopped:
        print("no emulated device is running")
    return 0


def _run_doctor(args: argparse.Namespace) -> int:
    from host.devices.doctor import diagnose
    from host.devices.service import open_device
    from host.report.console import print_doctor

    checks = diagnose(open_device(args.adb_server, args.device), args.device_python, args.gpu_delegate, args.nnapi_delegate)
    print_doctor(checks)
    return 0 if all(c.ok for c in checks if c.name not in ("gpu delegate", "nnapi delegate", "nnapi")) else 1


def _add_bench(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bench", help="convert, push, and measure every mode x backend on a device")
    _add_adb_options(p, many=True)
    p.add_argument("--model", default="demo", help="model file, SavedModel folder, or built-in name (default: the bundled demo)")
    p.add_argument("--dataset", help="evaluation images: class subfolders, or a flat folder with --labels (ILSVRC val)")
    p.add_argument("--labels", help="labels file for a flat --dataset: one class index per line, sorted file-name order")
    p.add_argument("--label-offset", type=int, default=0, help="added to labels (1 for 1001-class models with a background class)")
    p.add_argument("--crop", type=float, default=1.0, help="central crop fraction before resizing (0.875 for ImageNet-style eval)")
    p.add_argument("--modes", default="all", help="modes to measure (default: all that apply)")
    p.add_argument("--backends", default="cpu1,cpu4,gpu,nnapi", help="cpuN, gpu, nnapi (default: cpu1,cpu4,gpu,nnapi)")
    p.add_argument("--limit", type=int, help="evaluate only the first N images")
    _add_model_options(p)
    p.add_argument("--warmup-runs", type=int, default=1)
    p.add_argument("--warmup-seconds", type=float, default=0.5)
    p.add_argument("--min-runs", type=int, default=50)
    p.add_argument("--min-seconds", type=float, default=1.0)
    p.add_argument("--max-seconds", type=float, default=150.0)
    p.add_argument("--cell-timeout", type=float, default=900.0, help="seconds before a cell's worker is killed")
    p.add_argument("--json", type=Path, help="write the run as JSON (the documented contract)")
    p.add_argument("--report", type=Path, help="write a self-contained HTML report with charts")
    p.add_argument("--db", type=Path, help="results database (default: ~/.local/share/quantbench/results.sqlite)")
    p.add_argument("--resume", metavar="RUN_ID", help="run only the missing or failed cells of an earlier run")
    p.set_defaults(run=_run_bench)


def _run_bench(args: argparse.Namespace) -> int:
    from host.bench.config import BenchConfig, default_db
    from host.bench.service import run_bench
    from host.report.console import ProgressListener, print_run
    from host.report.formats import to_json
    from host.report.html import to_html

    config = BenchConfig(
        model=args.model, weights=args.weights, dataset=args.dataset, labels=args.labels,
        calibration=str(args.calibration) if args.calibration else None,
        train_data=str(args.train_data) if args.train_data else None, modes=args.modes, backends=args.backends,
        limit=args.limit, calibration_count=args.calibration_count, preset=args.preset, io_type=args.io_type,
        label_offset=args.label_offset, crop=args.crop, qat_epochs=args.qat_epochs, warmup_runs=args.warmup_runs,
        warmup_seconds=args.warmup_seconds, min_runs=args.min_runs, min_seconds=args.min_seconds,
        max_seconds=args.max_seconds, cell_timeout=args.cell_timeout, device=",".join(args.device or []) or None, adb_server=args.adb_server,
        device_python=args.device_python, gpu_delegate=args.gpu_delegate, nnapi_delegate=args.nnapi_delegate,
        use_cache=not args.no_cache,
    )
    for output in (args.json, args.report):
        _writable(output)  # before the run, not after it
    with ProgressListener() as listener:
        run = run_bench(config, args.db or default_db(), listener, resume=args.resume)
    print_run(run)
    if args.json:
        args.json.write_text(to_json(run))
        print(f"json: {args.json}")
    if args.report:
        args.report.write_text(to_html(run))
        print(f"report: {args.report}")
    return 1 if any(c.status == "failed" for c in run.cells) else 0


def _writable(path: Path | None) -> None:
    """Create the file's folder and make sure the file can be written, or fail now with exit 2."""
    if path is None:
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a"):
            pass
    except OSError as e:
        raise InputError(f"cannot write {path}: {e.strerror}") from e


def _add_report(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", help="show or export a stored run")
    p.add_argument("run_id", nargs="?", default="latest", help="run id (or a unique prefix), or latest")
    p.add_argument("--format", choices=("table", "md", "json", "csv", "html"), default="table")
    p.add_argument("-o", "--output", type=Path, help="write to a file instead of standard output")
    p.add_argument("--db", type=Path, help="results database")
    p.set_defaults(run=_run_report)


def _run_report(args: argparse.Namespace) -> int:
    from host.bench.config import default_db
    from host.report.console import print_run
    from host.report.formats import to_csv, to_json, to_markdown
    from host.report.html import to_html
    from host.store import ResultsStore

    db = args.db or default_db()
    if not db.is_file():
        raise InputError(f"no results database at {db}: run 'host bench' first or pass --db")
    store = ResultsStore(db)
    try:
        run = store.load_run(args.run_id)
    finally:
        store.close()
    if args.format == "table" and not args.output:
        print_run(run)
        return 0
    render = {"table": to_markdown, "md": to_markdown, "json": to_json, "csv": to_csv, "html": to_html}[args.format]
    text = render(run)
    if args.output:
        _writable(args.output)
        args.output.write_text(text)
        print(f"wrote {args.output}")
    else:
        sys.stdout.write(text)
    return 0


def _add_check(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("check", help="compare a run with a baseline; exit 1 on regression")
    p.add_argument("--baseline", required=True, help="run id (or prefix, or latest) in --db, or a host bench --json file")
    p.add_argument("--current", required=True, help="run id (or prefix, or latest) in --db, or a host bench --json file")
    p.add_argument("--max-latency-increase", type=float, default=10.0, metavar="PCT", help="p50 latency rise allowed (default 10%%)")
    p.add_argument("--max-accuracy-drop", type=float, default=1.0, metavar="POINTS", help="top-1 drop allowed in points (default 1.0)")
    p.add_argument("--alpha", type=float, default=0.01, help="significance for latency rises judged on raw samples (default 0.01)")
    p.add_argument("--junit", type=Path, help="write JUnit XML for CI")
    p.add_argument("--db", type=Path, help="results database")
    p.set_defaults(run=_run_check)


def _load_run_ref(ref: str, db: Path | None) -> Any:
    import json

    from host.bench.config import default_db
    from host.results import run_from_json
    from host.store import ResultsStore

    path = Path(ref)
    if path.is_file():
        try:
            return run_from_json(json.loads(path.read_text()))
        except ValueError as e:
            raise InputError(f"{path}: {e}") from e
    db = db or default_db()
    if not db.is_file():
        raise InputError(f"{ref} is not a JSON file and there is no results database at {db}")
    store = ResultsStore(db)
    try:
        return store.load_run(ref)
    finally:
        store.close()


def _run_check(args: argparse.Namespace) -> int:
    from host.regress import Thresholds, compare, junit_xml
    from host.report.console import print_findings

    limits = Thresholds(args.max_latency_increase, args.max_accuracy_drop, args.alpha)
    if limits.max_latency_increase < 0 or limits.max_accuracy_drop < 0 or not 0 < limits.alpha < 1:
        raise InputError("--max-latency-increase and --max-accuracy-drop must be >= 0, --alpha between 0 and 1")
    baseline, current = _load_run_ref(args.baseline, args.db), _load_run_ref(args.current, args.db)
    findings = compare(baseline, current, limits)
    print_findings(baseline, current, findings)
    if args.junit:
        _writable(args.junit)
        junit_xml(findings, args.junit)
        print(f"junit: {args.junit}")
    return 1 if any(f.regressed for f in findings) else 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="host", description="Quantize a model and measure it on Android devices.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    _add_convert(sub)
    _add_bench(sub)
    _add_report(sub)
    _add_check(sub)
    _add_devices(sub)
    return parser


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    signal.signal(signal.SIGTERM, _interrupt)  # run the same cleanup as Ctrl-C (agent, forward, emulator)
    parser = build_parser()
    args = parser.parse_args(argv)
    run: Command = args.run
    try:
        return run(args)
    except HostError as e:
        print(f"error: {e}", file=sys.stderr)
        return e.exit_code
    except OSError as e:  # a path the user gave that cannot be read or written
        where = f" ({e.filename})" if e.filename else ""
        print(f"error: {e.strerror or e}{where}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
