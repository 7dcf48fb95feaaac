"""``host emulator start|stop``: the x86 emulated Android device."""

from __future__ import annotations

import argparse
from pathlib import Path

from host.commands.spec import Command
from host.emulator.options import StartOptions, StopOptions
from host.errors import ExitCode
from host.params import from_namespace


def run_start(args: argparse.Namespace) -> int:
    from host.devices.transport.adb import parse_server
    from host.emulator import manager

    options = from_namespace(StartOptions, args)
    state = manager.start(
        parse_server(options.adb_server),
        options.port,
        Path(options.root) if options.root else None,
        profile=options.profile,
        offline=options.offline,
    )
    print(f"profile {state.profile}: {manager.profile_summary(state.profile)}")
    print(f"sandbox {state.root}")
    print(state.serial)
    return ExitCode.OK


def run_stop(args: argparse.Namespace) -> int:
    from host.devices.transport.adb import parse_server
    from host.emulator import manager

    options = from_namespace(StopOptions, args)
    stopped = manager.stop(parse_server(options.adb_server), options.serial, options.all)
    for serial in stopped:
        print(f"stopped {serial}")
    if not stopped:
        print("no emulated device is running")
    return ExitCode.OK


COMMANDS = (
    Command("start", "start an emulated device; prints its serial last", run_start, (StartOptions,), group="emulator"),
    Command("stop", "disconnect and stop emulated devices", run_stop, (StopOptions,), group="emulator"),
)
