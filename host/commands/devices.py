"""``host devices``, ``host doctor``, ``host provision`` and ``host agent-command``: one device's
state and what it needs before a bench."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from host.commands.spec import Command, say
from host.devices.options import AdbOptions, AgentCommandOptions, DoctorOptions, ProvisionOptions
from host.errors import ExitCode, InputError
from host.params import from_namespace

if TYPE_CHECKING:
    from host.devices.launch.litert import Release
    from host.devices.transport.device import Device


def run_devices(args: argparse.Namespace) -> int:
    from host.devices.selection.resolve import attached
    from host.devices.transport.adb import parse_server
    from host.emulator.manager import with_unconnected
    from host.report.console import print_devices

    print_devices(with_unconnected(attached(parse_server(from_namespace(AdbOptions, args).adb_server))))
    return ExitCode.OK


def run_doctor(args: argparse.Namespace) -> int:
    from host.devices.launch.doctor import diagnose
    from host.devices.launch.leftovers import reap
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
    return ExitCode.OK if diagnosis.exit_ok else ExitCode.FAILED


def run_provision(args: argparse.Namespace) -> int:
    from host.devices.launch.provision import provision
    from host.devices.selection.resolve import resolve_one
    from host.devices.transport.adb import parse_server

    options = from_namespace(ProvisionOptions, args)
    if options.litert_version and not options.litert:
        raise InputError("--litert-version names the version of --litert DIR: give the folder too")
    if options.litert:
        from host.devices.launch.litert import find_release

        release = find_release(Path(options.litert), options.litert_version)  # bad input: before any device is asked
        return _provision_litert(resolve_one(parse_server(options.adb_server), options.device), release)
    device = resolve_one(parse_server(options.adb_server), options.device)
    ran = provision(device, say)
    print(f"{device.serial}: Termux has what the agent needs" + ("" if ran else " (nothing was missing)"))
    if device.props().emulated:
        from host.devices.launch.choose import install_launcher
        from host.devices.launch.litert import ensure_on_emulated

        if ensure_on_emulated(device, install_launcher(device)):
            print(f"{device.serial}: LiteRT from the ai-edge-litert wheel installed (its software GPU and NPU)")
    return ExitCode.OK


def _provision_litert(device: Device, release: Release) -> int:
    from host.devices.launch.choose import install_launcher
    from host.devices.launch.litert import install
    from host.devices.launch.provision import provision

    launcher = install_launcher(device)
    if launcher.name == "termux-run-as":
        provision(device, say)  # the new library is test-loaded by the agent's own Python: it must be there
    target = install(device, launcher, release, say)
    print(
        f"{device.serial}: LiteRT {release.version} ({release.machine}) in {target}: "
        f"{', '.join(release.accelerators()) or 'no GPU accelerator or NPU dispatch library'}"
    )
    return ExitCode.OK


def run_agent_command(args: argparse.Namespace) -> int:
    from host.devices.agent.session import agent_zipapp
    from host.devices.launch.attach import agent_command
    from host.devices.launch.launchers import AgentOptions
    from host.devices.selection.resolve import resolve_one
    from host.devices.transport.adb import parse_server

    options = from_namespace(AgentCommandOptions, args)
    device = resolve_one(parse_server(options.adb_server), options.device)
    line = agent_command(device, *agent_zipapp(), AgentOptions(options.gpu_delegate, options.nnapi_delegate))
    print(
        f"Paste this line into the Termux app on {device.serial}, then run 'host bench --device {device.serial} "
        "--attach':",
        file=sys.stderr,
    )
    print(line)
    return ExitCode.OK


COMMANDS = (
    Command("devices", "list ADB devices and emulated ones", run_devices, (AdbOptions,)),
    Command(
        "doctor",
        "check a device (the one named, or the only one attached): the launcher that works, or what it lacks "
        "and the steps",
        run_doctor,
        (DoctorOptions,),
    ),
    Command(
        "provision",
        "install what the agent needs inside Termux (a debuggable build), through run-as; the phone needs "
        "its own internet; with --litert, push a LiteRT release for GPU and NPU",
        run_provision,
        (ProvisionOptions,),
    ),
    Command(
        "agent-command",
        "print the line that starts the agent inside the Termux app (then bench --attach)",
        run_agent_command,
        (AgentCommandOptions,),
    ),
)
