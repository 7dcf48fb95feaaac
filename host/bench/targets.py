"""The devices a bench runs on, and the one way a device's runner is made.

The devices: the named ones, every ready one (``--all-devices``), phones reserved from
DeviceFarmer/STF (``--stf``, given back when the bench ends), the only one attached, or an
emulated one. An emulated device started here is stopped when the bench ends (Ctrl-C included).
This is the one place that combines device selection with the emulator, so ``host.devices``
stays free of it.

``device_runner`` is the one factory of a device's runner (its agent sessions, the host-side
lock, restarts and reconnects after losses) for ``bench`` and ``compare`` alike.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass

from host.bench.cells import BenchListener
from host.bench.inputs import PreparedInputs
from host.bench.plan import RunPlan, Unit
from host.bench.runner import DeviceRunner, RunnerParts, RunSink
from host.devices.agent.session import AgentSession, AgentSettings, find_launcher, open_session
from host.devices.launch import leftovers
from host.devices.launch.launchers import AgentOptions, Launcher
from host.devices.launch.provision import provision
from host.devices.options import DeviceChoice
from host.devices.selection import stf
from host.devices.selection.lock import device_lock
from host.devices.selection.reconnect import wait_for_device
from host.devices.selection.resolve import every_ready, resolve
from host.devices.transport.adb import parse_server
from host.devices.transport.device import Device
from host.emulator import manager
from host.errors import DeployError, HostError, InputError
from host.results import RunRecord

RESTARTS = 3  # fresh agent sessions a device gets after losses (each after waiting for the device)


@contextmanager
def bench_devices(config: DeviceChoice, stage: Callable[[str], None]) -> Iterator[list[Device]]:
    """The devices to bench; emulated ones are held (and stopped by the last bench using them)."""
    address = parse_server(config.adb_server)
    with ExitStack() as held:
        if config.stf:
            farm = stf.StfClient(config.stf)
            devices = held.enter_context(
                stf.reserved(address, farm, config.device, config.stf_filter, config.stf_timeout * 60, stage)
            )
        elif config.all_devices:
            devices = every_ready(address)
        else:
            devices = resolve(address, config.device)
        if not devices:
            stage("no device attached: starting the emulated device (a phone with Termux, reached through run-as)")
            devices = [Device(address, manager.shared(address).serial)]
        for device in devices:
            emulated = manager.find(device.serial)
            if emulated is not None:
                held.enter_context(manager.in_use(address, emulated))
                if emulated.profile == manager.DEFAULT_PROFILE:  # our own phone: its Termux gets the agent's packages
                    provision(device, functools.partial(_say, stage, device.serial))
        for line in leftovers.reap(address, {d.serial for d in devices}):
            stage(line)
        yield devices


def _say(stage: Callable[[str], None], serial: str, text: str) -> None:
    stage(f"{serial}: {text}")


def identity(device: Device) -> str:
    """Cells are keyed by the device's own serial number, so a resumed run finds them again even
    when the adb serial changed; a device that cannot say is keyed by its adb serial."""
    try:
        return device.identity
    except HostError:
        return device.serial


def agent_settings(devices: DeviceChoice) -> AgentSettings:
    return AgentSettings(
        devices.device_python, AgentOptions(devices.gpu_delegate, devices.nnapi_delegate), devices.attach
    )


@dataclass(frozen=True)
class Target:
    """A device to bench, and how to start the agent on it (or why it cannot be)."""

    device: Device
    identity: str
    launcher: Launcher | None
    problem: HostError | None = None


def find_targets(devices: list[Device], settings: AgentSettings) -> list[Target]:
    """Each device with the launcher that works on it. When none can run the agent the bench
    stops here, before any conversion; a farm goes on with the devices that can."""
    targets = []
    for device in devices:
        try:
            targets.append(Target(device, identity(device), find_launcher(device, settings)))
        except HostError as e:
            if len(devices) == 1 or isinstance(e, InputError):
                raise
            targets.append(Target(device, identity(device), None, e))
    if all(t.problem for t in targets):
        raise targets[0].problem or DeployError("no device can run the agent")
    return targets


def device_runner(
    target: Target,
    plan: RunPlan,
    inputs: PreparedInputs,
    sink: RunSink,
    listener: BenchListener,
    stored: Callable[[], RunRecord] | None = None,
    more: Callable[[], list[Unit]] = list,
) -> DeviceRunner:
    """The runner of one device's cells: a fresh agent session after each loss (the device
    waited for first), the device held for this bench alone; ``stored`` reads a resumed run
    again once the device is held; ``more`` gives further units when these run out (compare)."""
    devices = plan.config.devices
    settings = agent_settings(devices)

    def open_agent() -> AgentSession:
        if target.problem is not None:
            raise target.problem
        listener.stage(f"deploying the agent to {target.device.serial}")
        return open_session(target.device, settings, target.launcher)

    parts = RunnerParts(
        target.identity,
        open_agent,
        inputs,
        sink,
        listener,
        hold=lambda: device_lock(target.identity, wait=devices.wait, on_wait=listener.stage),
        restarts=RESTARTS,
        more=more,
        reconnect=lambda: wait_for_device(target.device, devices.reconnect_wait, listener.stage),
        stored=stored,
    )
    return DeviceRunner(parts, plan)
