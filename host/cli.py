"""The ``host`` command: parse options, call the library, turn errors into exit codes.

Nothing here measures or converts; each subcommand is a few lines over a library call, and its
options are generated from the library's declared parameter tables (``host/params.py``). Every
``HostError`` ends as one line on stderr and the exit code its class names, never a traceback.
"""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from host import __version__
from host.errors import ExitCode, HostError, InputError
from host.fsio import atomic_write, check_writable
from host.params import add_arguments, from_namespace, params, validate

if TYPE_CHECKING:
    from host.devices.launch.litert import Release
    from host.devices.transport.device import Device
    from host.results import RunRecord
    from host.store.location import StoreLocation

Command = Callable[[argparse.Namespace], int]


def _writable(path: str | None) -> None:
    if path is not None:
        check_writable(Path(path))


def _db(value: str | None) -> StoreLocation:
    """The results store named by --db, $QUANTBENCH_DB, or the default file."""
    from host.store.location import locate

    return locate(value)


def _run_convert(args: argparse.Namespace) -> int:
    from host.convert.options import ConvertConfig
    from host.convert.service import convert_command
    from host.report.console import print_conversion
    from host.report.progress import ProgressListener

    with ProgressListener() as listener:
        report = convert_command(from_namespace(ConvertConfig, args), listener)
    print_conversion(report)
    return ExitCode.FAILED if report.failed else ExitCode.OK


def _run_bench(args: argparse.Namespace) -> int:
    from host.bench.config import BenchConfig, BenchOutputs
    from host.bench.run import run_bench
    from host.quant.pareto import recommend
    from host.report.console import print_run
    from host.report.formats import to_json
    from host.report.html import to_html
    from host.report.progress import ProgressListener

    config, outputs = from_namespace(BenchConfig, args), from_namespace(BenchOutputs, args)
    for output in (outputs.json, outputs.report):
        _writable(output)  # before the run, not after it
    with ProgressListener() as listener:
        run = run_bench(config, _db(outputs.db), listener, resume=outputs.resume)
    print_run(run)
    recommendation = recommend(run)
    if recommendation.pick:
        print(f"recommended: {recommendation.reason} (limits and the front: host recommend {run.run_id})")
    for path, render in ((outputs.json, to_json), (outputs.report, to_html)):
        if path:
            atomic_write(Path(path), render(run))
            print(f"wrote {path}")
    return ExitCode.FAILED if any(c.status == "failed" for c in run.cells) else ExitCode.OK


def _load_run(run_id: str, db_option: str | None) -> RunRecord:
    from host.store import ResultsStore

    db = _db(db_option)
    if not db.exists():
        raise InputError(f"no results database at {db.describe()}: run 'host bench' first or pass --db")
    store = ResultsStore(db, read_only=True)
    try:
        return store.load_run(run_id)
    finally:
        store.close()


def _run_report(args: argparse.Namespace) -> int:
    from host.report.console import print_run
    from host.report.formats import RENDERERS
    from host.report.options import ReportOptions

    options = from_namespace(ReportOptions, args)
    run = _load_run(options.run_id, options.db)
    if options.ops or options.cell or options.top:
        from host.report.ops import render_ops

        return _emit(render_ops(run, options.format, options.cell, options.top), options.output)
    if options.format == "table" and not options.output:
        print_run(run)
        return ExitCode.OK
    return _emit(RENDERERS["md" if options.format == "table" else options.format](run), options.output)


def _emit(text: str, output: str | None) -> int:
    if output:
        _writable(output)
        atomic_write(Path(output), text)
        print(f"wrote {output}")
    else:
        sys.stdout.write(text)
    return ExitCode.OK


def _run_check(args: argparse.Namespace) -> int:
    from host.gate.options import CheckOptions, Thresholds
    from host.gate.output import write_outputs
    from host.gate.verdicts import check_same_inputs, compare, load_run_ref
    from host.report.console import print_verdicts

    limits, options = from_namespace(Thresholds, args), from_namespace(CheckOptions, args)
    for path in (options.junit, options.markdown, options.json):
        if path:
            _writable(path)
    baseline, current = load_run_ref(options.baseline, _db(options.db)), load_run_ref(options.current, _db(options.db))
    if not options.allow_different_inputs:
        check_same_inputs(baseline, current)
    verdicts = compare(baseline, current, limits)
    print_verdicts(verdicts, limits.inconclusive)
    for line in write_outputs(verdicts, options.junit, options.markdown, options.json):
        print(line)
    return ExitCode.FAILED if verdicts.failed(limits.inconclusive) else ExitCode.OK


def _run_compare(args: argparse.Namespace) -> int:
    from host.bench.compare import run_compare
    from host.bench.config import BenchConfig, CompareOptions
    from host.gate.options import Thresholds
    from host.gate.output import write_outputs
    from host.report.console import print_verdicts
    from host.report.progress import ProgressListener

    options, config, limits = from_namespace(CompareOptions, args), from_namespace(BenchConfig, args), from_namespace(Thresholds, args)
    for path in (options.junit, options.markdown, options.json):
        _writable(path)
    with ProgressListener() as listener:
        result = run_compare(options, config, limits, _db(options.db), listener)
    print_verdicts(result.verdicts, limits.inconclusive)
    print(f"{result.repeats} repeats per cell at most, {result.device_seconds / 60:.1f} min of device time; stopped: "
          f"{result.stopped}; stored as runs {result.baseline.run_id} (baseline) and {result.current.run_id} (current)")
    for line in write_outputs(result.verdicts, options.junit, options.markdown, options.json):
        print(line)
    return ExitCode.FAILED if result.verdicts.failed(limits.inconclusive) else ExitCode.OK


def _run_debug(args: argparse.Namespace) -> int:
    from host.quant.options import DebugOptions
    from host.quant.service import debug_command
    from host.report.debug import print_debug, write_debug

    options = from_namespace(DebugOptions, args)
    _writable(options.out and str(Path(options.out) / "debug.json"))
    report, integer_build = debug_command(options)
    device_time = None
    if options.device_time or options.device:
        from host.quant.device_time import measure_build
        from host.report.progress import ProgressListener

        with ProgressListener() as listener:
            device_time = measure_build(integer_build, options, _db(options.db), listener)
    print_debug(report, options.top, device_time=device_time)
    written = write_debug(report, integer_build, Path(options.out)) if options.out else {}
    for path in written.values():
        print(f"wrote {path}")
    if written:
        print(f"see the graph coloured by error: model-explorer {written['integer.tflite']} "
              f"--node_data_paths={written['model-explorer.json']}")
    return ExitCode.OK


def _run_tune(args: argparse.Namespace) -> int:
    from host.quant.options import TuneOptions
    from host.quant.tune import tune_command
    from host.report.progress import ProgressListener
    from host.report.tune import print_tune

    options = from_namespace(TuneOptions, args)
    _writable(str(Path(options.out) / "tune.json"))
    with ProgressListener() as listener:
        result = tune_command(options, _db(options.db), listener)
    print_tune(result)
    return ExitCode.OK if result.met else ExitCode.FAILED


def _run_recommend(args: argparse.Namespace) -> int:
    from host.quant.options import RecommendOptions
    from host.quant.pareto import recommend
    from host.report.console import print_recommendation
    from host.report.html import to_html

    options = from_namespace(RecommendOptions, args)
    _writable(options.report)
    run = _load_run(options.run_id, options.db)
    recommendation = recommend(run, max_size=options.max_size, max_latency=options.max_latency,
                               min_accuracy=options.min_accuracy, backend=options.backend, device=options.device)
    print_recommendation(recommendation)
    if options.report:
        atomic_write(Path(options.report), to_html(run, recommendation))
        print(f"wrote {options.report}")
    return ExitCode.OK if recommendation.pick else ExitCode.FAILED


def _run_cache_prune(args: argparse.Namespace) -> int:
    from host.cache import PruneOptions, prune_host

    options = from_namespace(PruneOptions, args)
    print(prune_host(options.max_mb, options.max_days).describe("caches on this machine"))
    if options.device:
        from host.devices.agent.session import AgentSettings, open_session
        from host.devices.selection.resolve import resolve_one
        from host.devices.transport.adb import parse_server

        device = resolve_one(parse_server(options.adb_server), options.device)
        with open_session(device, AgentSettings(options.device_python)) as session:
            pruned = session.prune_store(options.device_store_max_mb * 1_000_000, max_age_days=options.max_days)
        print(f"agent store on {device.serial}: removed {pruned.removed_files} files ({pruned.removed_bytes / 1e6:.1f} MB), "
              f"{pruned.kept_files} files ({pruned.kept_bytes / 1e6:.1f} MB) kept")
    return ExitCode.OK


def _run_devices(args: argparse.Namespace) -> int:
    from host.devices.options import AdbOptions
    from host.devices.selection.resolve import attached
    from host.devices.transport.adb import parse_server
    from host.emulator.manager import with_unconnected
    from host.report.console import print_devices

    print_devices(with_unconnected(attached(parse_server(from_namespace(AdbOptions, args).adb_server))))
    return ExitCode.OK


def _run_emulator_start(args: argparse.Namespace) -> int:
    from host.devices.transport.adb import parse_server
    from host.emulator import manager
    from host.emulator.options import StartOptions
    from host.emulator.profiles import PROFILES

    options = from_namespace(StartOptions, args)
    state = manager.start(parse_server(options.adb_server), options.port, Path(options.root) if options.root else None,
                          profile=options.profile, offline=options.offline)
    print(f"profile {state.profile}: {PROFILES[state.profile].summary}")
    print(f"sandbox {state.root}")
    print(state.serial)
    return ExitCode.OK


def _run_emulator_stop(args: argparse.Namespace) -> int:
    from host.devices.transport.adb import parse_server
    from host.emulator import manager
    from host.emulator.options import StopOptions

    options = from_namespace(StopOptions, args)
    stopped = manager.stop(parse_server(options.adb_server), options.serial, options.all)
    for serial in stopped:
        print(f"stopped {serial}")
    if not stopped:
        print("no emulated device is running")
    return ExitCode.OK


def _run_doctor(args: argparse.Namespace) -> int:
    from host.devices.launch.doctor import diagnose
    from host.devices.launch.leftovers import reap
    from host.devices.options import DoctorOptions
    from host.devices.selection.resolve import resolve_one
    from host.devices.transport.adb import parse_server
    from host.report.console import print_doctor

    options = from_namespace(DoctorOptions, args)
    address = parse_server(options.adb_server)
    device = resolve_one(address, options.device)
    for line in reap(address, {device.serial}):
        print(f"cleaned up: {line}")
    diagnosis = diagnose(device, options.device_python, options.gpu_delegate, options.nnapi_delegate)
    print_doctor(diagnosis)
    return ExitCode.OK if diagnosis.healthy else ExitCode.FAILED


def _run_provision(args: argparse.Namespace) -> int:
    from host.devices.launch.provision import provision
    from host.devices.options import ProvisionOptions
    from host.devices.selection.resolve import resolve_one
    from host.devices.transport.adb import parse_server

    options = from_namespace(ProvisionOptions, args)
    if options.litert:
        from host.devices.launch.litert import find_release

        release = find_release(Path(options.litert), options.litert_version)  # bad input: before any device is asked
        return _provision_litert(resolve_one(parse_server(options.adb_server), options.device), release)
    device = resolve_one(parse_server(options.adb_server), options.device)
    ran = provision(device, lambda text: print(f"- {text}", flush=True))
    print(f"{device.serial}: Termux has what the agent needs" + ("" if ran else " (nothing was missing)"))
    return ExitCode.OK


def _provision_litert(device: Device, release: Release) -> int:
    from host.devices.launch.choose import check_termux, find_launcher
    from host.devices.launch.litert import install
    from host.devices.launch.termux import TermuxRunAsLauncher

    termux, _ = check_termux(device)  # run-as is all a push needs: Termux's Python may come later
    launcher = TermuxRunAsLauncher(device) if termux.works or termux.fix.startswith("host provision") else \
        find_launcher(device, None, False)
    target = install(device, launcher, release, lambda text: print(f"- {text}", flush=True))
    print(f"{device.serial}: LiteRT {release.version} ({release.machine}) in {target}: "
          f"{', '.join(release.accelerators()) or 'no GPU accelerator or NPU dispatch library'}")
    return ExitCode.OK


def _run_agent_command(args: argparse.Namespace) -> int:
    from host.devices.agent.session import agent_zipapp
    from host.devices.launch.attach import agent_command
    from host.devices.launch.launchers import AgentOptions
    from host.devices.options import AgentCommandOptions
    from host.devices.selection.resolve import resolve_one
    from host.devices.transport.adb import parse_server

    options = from_namespace(AgentCommandOptions, args)
    device = resolve_one(parse_server(options.adb_server), options.device)
    line = agent_command(device, *agent_zipapp(), AgentOptions(options.gpu_delegate, options.nnapi_delegate))
    print(f"Paste this line into the Termux app on {device.serial}, then run 'host bench --device {device.serial} --attach':",
          file=sys.stderr)
    print(line)
    return ExitCode.OK


def _command(sub: argparse._SubParsersAction, name: str, help: str, run: Command, *tables: type) -> argparse.ArgumentParser:
    """A subcommand whose options are the declared parameters of ``tables``."""
    parser: argparse.ArgumentParser = sub.add_parser(name, help=help, description=help)
    for table in tables:
        add_arguments(parser, table)
    parser.set_defaults(run=run, tables=tables)
    return parser


def _add_commands(sub: argparse._SubParsersAction) -> None:
    from host.bench.config import NOT_FOR_COMPARE, BenchConfig, BenchOutputs, CompareOptions
    from host.cache import PruneOptions
    from host.convert.options import ConvertConfig
    from host.devices.options import AdbOptions, AgentCommandOptions, DoctorOptions, ProvisionOptions
    from host.emulator.options import StartOptions, StopOptions
    from host.gate.options import CheckOptions, Thresholds
    from host.quant.options import DebugOptions, RecommendOptions, TuneOptions
    from host.report.options import ReportOptions

    _command(sub, "convert", "convert a Keras/TensorFlow model to TFLite in quantization modes", _run_convert, ConvertConfig)
    _command(sub, "bench", "convert, push, and measure every mode x backend on a device", _run_bench, BenchConfig, BenchOutputs)
    _command(sub, "report", "show or export a stored run", _run_report, ReportOptions)
    _command(sub, "check", "compare a run with a baseline; exit 1 on regression", _run_check, CheckOptions, Thresholds)
    compare = _command(sub, "compare", "measure two builds on one device, interleaved, until every cell is decided or the "
                       "budget is spent; exit 1 on regression", _run_compare, CompareOptions, Thresholds)
    add_arguments(compare, BenchConfig, only=[f.name for f, _ in params(BenchConfig) if f.name not in NOT_FOR_COMPARE])
    compare.set_defaults(tables=(CompareOptions, Thresholds, BenchConfig))
    _command(sub, "debug", "per-layer quantization error of the integer build, per tensor and per channel, mapped to "
             "Keras layers and ranked, suspects marked", _run_debug, DebugOptions)
    _command(sub, "tune", "find on the device the fewest layers to keep in float for an accuracy target; writes the "
             "tuned build folder", _run_tune, TuneOptions)
    _command(sub, "recommend", "the Pareto front of a run's builds and the one to ship, with the reason", _run_recommend,
             RecommendOptions)
    _command(sub, "devices", "list ADB devices and emulated ones", _run_devices, AdbOptions)
    emulator = sub.add_parser("emulator", help="start or stop the x86 emulated Android device")
    actions = emulator.add_subparsers(dest="action", required=True)
    _command(actions, "start", "start an emulated device; prints its serial last", _run_emulator_start, StartOptions)
    _command(actions, "stop", "disconnect and stop emulated devices", _run_emulator_stop, StopOptions)
    _command(sub, "doctor", "check a device (the one named, or the only one attached): the launcher that works, "
             "or what it lacks and the steps", _run_doctor, DoctorOptions)
    _command(sub, "provision", "install what the agent needs inside Termux (a debuggable build), through run-as; "
             "the phone needs its own internet; with --litert, push a LiteRT release for GPU and NPU", _run_provision,
             ProvisionOptions)
    _command(sub, "agent-command", "print the line that starts the agent inside the Termux app (then bench --attach)",
             _run_agent_command, AgentCommandOptions)
    cache = sub.add_parser("cache", help="the caches on this machine and on devices")
    _command(cache.add_subparsers(dest="action", required=True), "prune",
             "remove cache entries unused for --max-days, then the least recently used beyond --max-mb", _run_cache_prune,
             PruneOptions)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="host", description="Quantize a model and measure it on Android devices.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    _add_commands(sub)
    return parser


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    signal.signal(signal.SIGTERM, _interrupt)  # run the same cleanup as Ctrl-C (agent, forward, emulator)
    args = build_parser().parse_args(argv)
    run: Command = args.run
    try:
        for table in args.tables:  # every option's own check (ranges, finite numbers) before any work
            validate(from_namespace(table, args))
        return int(run(args))
    except HostError as e:
        print(f"error: {e}", file=sys.stderr)
        return int(e.exit_code)
    except OSError as e:  # a path the user gave that cannot be read or written
        where = f" ({e.filename})" if e.filename else ""
        print(f"error: {e.strerror or e}{where}", file=sys.stderr)
        return int(ExitCode.USAGE)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return int(ExitCode.INTERRUPTED)
    finally:
        _stop_started_servers(keep=getattr(args, "action", "") == "start")


def _stop_started_servers(keep: bool) -> None:
    """An adb server this command started at a --adb-server address it named is stopped again
    (an emulated device started for later use keeps it); either way the user is told."""
    if "host.devices.transport.adb" in sys.modules:
        from host.devices.transport.adb import stop_started_servers

        for note in stop_started_servers(keep):
            print(f"note: {note}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
