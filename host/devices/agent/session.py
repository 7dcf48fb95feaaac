"""An agent session on one device: deploy, launch, the channel, and the device-side store.

``open_session`` deploys the zipapp (pushed only when its hash changed), starts the agent with a
fresh token through the device's launcher, opens the channel and waits for SERVING.
``AgentSession.ensure`` puts a file into the agent's content-addressed store, skipping it only
when the store already holds that sha256 (the store holds verified files only). Closing the
session (normally, on error or on Ctrl-C) stops the agent and closes the channel.
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from device_agent.contract import CellRequest, CellResult, DeviceInfo, Progress, PruneRequest, PruneResponse
from device_agent.zipapp import build_zipapp
from host.devices.agent.channel import Channel, open_channel
from host.devices.agent.client import AgentClient
from host.devices.energy.run import EnergyProbe, measure_energy, probe_device
from host.devices.launch import choose, leftovers
from host.devices.launch.launchers import INCOMING, AgentOptions, Launcher, RunningAgent
from host.devices.state.conditions import read_conditions, set_fixed_performance, wait_until_cool
from host.devices.state.fingerprint import read_fingerprint
from host.devices.transport.device import Device
from host.errors import AgentError, DeployError
from host.paths import cache_dir
from host.results import Conditions, DeviceRecord, EnergyRecord

FRESH_READING_S = 3.0  # a conditions reading this young stands for now: the previous repeat's, from the end of its
# timing (read while its worker evaluated), with that evaluation's rest, its per-op pass and the store's commit since

SERVING_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class AgentSettings:
    """How to run the agent on a device."""

    device_python: str | None = None
    options: AgentOptions = AgentOptions()
    attach: bool = False  # use the agent the user started inside Termux (host agent-command)


def agent_zipapp() -> tuple[Path, str]:
    """Build the zipapp into the cache and return (path, sha256)."""
    path = cache_dir() / "agent" / "agent.pyz"
    return path, build_zipapp(path)


def find_launcher(device: Device, settings: AgentSettings) -> Launcher:
    """The launcher that works on this device, or NoLauncher with what it lacks and the steps."""
    return choose.find_launcher(device, settings.device_python, settings.attach)


class AgentSession:
    """A running agent on one device, reached through its channel."""

    def __init__(
        self,
        device: Device,
        launcher: Launcher,
        agent: RunningAgent,
        channel: Channel,
        client: AgentClient,
        options: AgentOptions | None = None,
    ) -> None:
        self.options = options or AgentOptions()
        self.device = device
        self.launcher = launcher
        self.agent = agent
        self.channel = channel
        self.client = client
        self._info: DeviceInfo | None = None
        self._energy: EnergyProbe | None = None
        self._last: tuple[float, Conditions | None] = (0.0, None)  # the latest reading and when
        self.record = leftovers.remember(
            leftovers.SessionRecord(
                os.getpid(),
                device.serial,
                device.address.host,
                device.address.port,
                0,
                agent.pid,
                launcher.stop_prefix,
            )
        )

    def ensure(self, path: Path, sha256: str) -> bool:
        """Put a file into the agent's store unless it holds that content already; True if sent."""
        if self.has_file(sha256):
            return False
        staged = f"{INCOMING}/{sha256}"
        self.device.push_unchecked(path, staged)
        try:
            self.client.adopt(sha256)
        finally:
            self.device.shell(f"rm -f {staged}")
        return True

    def has_file(self, sha256: str) -> bool:
        return self.client.stat(sha256)[0]

    def prune_store(self, max_bytes: int, keep: tuple[str, ...] = (), max_age_days: float = 0.0) -> PruneResponse:
        """Bound the device-side store; the files in ``keep`` stay whatever the budget."""
        return self.client.prune(PruneRequest(max_bytes, max_age_days, keep))

    def device_info(self) -> DeviceInfo:
        """The agent's view of the device, asked once per session: it probes each backend's
        libraries in throwaway processes, and none of that changes while the agent runs."""
        if self._info is None:
            self._info = self.client.device_info()
        return self._info

    def conditions(self) -> Conditions:
        self._last = (time.monotonic(), read_conditions(self.device))
        return self._last[1]

    def wait_cool(self, below_c: float, bound_s: float, say: Callable[[str], None]) -> tuple[Conditions, float]:
        """Wait for the phone to cool; a reading under FRESH_READING_S old (the previous repeat's, from
        the end of its timing) stands for now instead of another round trip to the device."""
        taken, last = self._last
        fresh = last if last is not None and time.monotonic() - taken < FRESH_READING_S else None
        self._last = (0.0, None)
        conditions, waited = wait_until_cool(self.device, below_c, bound_s, say, first=fresh)
        return conditions, waited

    def set_fixed_performance(self, enabled: bool) -> bool:
        return set_fixed_performance(self.device, enabled)

    def store_free_bytes(self) -> int:
        """Free space where the agent's store lives now (0 when the agent cannot tell)."""
        return self.client.store_status().free_bytes

    def device_record(self) -> DeviceRecord:
        """The device as a run records it: the agent's view, completed by ADB's properties."""
        info = self.device_info()
        props = self.device.props()
        now = self.conditions()
        return DeviceRecord(
            serial=self.device.identity,
            model=info.model or props.model,
            abi=info.abi,
            sdk=info.sdk or props.sdk,
            runtime=info.runtime,
            runtime_version=info.runtime_version,
            cores=info.cores,
            emulated=props.emulated,
            soc=info.soc or props.soc,
            adb_serial=self.device.serial,
            launcher=self.launcher.name,
            fingerprint=read_fingerprint(self.device, info, now, self.options),
            at_start=now,
        )

    def run_cell(self, request: CellRequest, on_progress: Callable[[Progress], None] | None = None) -> CellResult:
        return self.client.run_cell(request, deadline_s=request.timeout_seconds + 60, on_progress=on_progress)

    def energy_probe(self, minimum_s: float) -> EnergyProbe:
        """The device's energy meter and the loop it needs, found once per session."""
        if self._energy is None:
            self._energy = probe_device(self.device, minimum_s)
        return self._energy

    def run_energy_cell(
        self, request: CellRequest, found: EnergyProbe, on_progress: Callable[[Progress], None] | None = None
    ) -> tuple[CellResult, EnergyRecord]:
        """An energy cell with the meter sampled around it (the battery unplugged for a fuel gauge)."""
        assert request.energy is not None
        return measure_energy(self.device, found, request.energy, lambda: self.run_cell(request, on_progress))

    def close(self) -> None:
        """Close the channel, stop the agent; never masks the error that brought us here."""
        self.client.close()
        try:
            self.channel.close()
            self.launcher.stop(self.agent)
            leftovers.forget(self.record)
        except Exception:  # noqa: BLE001 - the device may be gone (then the record lets a later run clean up)
            pass

    def __enter__(self) -> AgentSession:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self.close()


def open_session(
    device: Device, settings: AgentSettings = AgentSettings(), launcher: Launcher | None = None
) -> AgentSession:
    launcher = launcher or find_launcher(device, settings)
    remote = launcher.deploy(*agent_zipapp())
    if device.props().emulated:
        from host.devices.launch.litert import ensure_on_emulated

        ensure_on_emulated(device, launcher)
    token = secrets.token_hex(24)
    agent = launcher.start(remote, token, settings.options)
    try:
        channel = open_channel(device, agent.port)
    except BaseException:
        launcher.stop(agent)
        raise
    session = AgentSession(device, launcher, agent, channel, AgentClient(channel.target, agent.token), settings.options)
    try:
        wait_serving(session.client, SERVING_TIMEOUT_S)
    except BaseException:
        session.close()
        raise
    return session


def wait_serving(client: AgentClient, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            if client.health(deadline_s=2.0) == "SERVING":
                return
        except AgentError as e:
            last = e
        time.sleep(0.1)
    raise DeployError(f"the agent did not become SERVING within {timeout_s:g} s ({last})")
