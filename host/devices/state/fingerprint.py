"""A device's fingerprint: what a measurement on it depends on, read once per session.

The build (``ro.build.fingerprint``), the hardware and SoC, the kernel (``uname -r``), each CPU's
governor and maximum clock, the agent's TFLite runtime and version, and the delegate libraries
with whether they load. Runs store it per device and each cell stores its id, so a farm report
can tell "the same phone model" apart from "the same software on the same chip".
"""

from __future__ import annotations

from device_agent.contract import DeviceInfo
from device_agent.engines.backends import library_for, parse_backend, uses_litert
from device_agent.measuring.props import SOFTWARE_PROPS
from host.devices.launch.launchers import AgentOptions
from host.devices.transport.device import Device
from host.results import Conditions, Fingerprint


def _delegates(info: DeviceInfo, options: AgentOptions) -> tuple[str, ...]:
    found = []
    for backend in info.backends:
        library = library_for(parse_backend(backend.name), options.gpu_delegate, options.nnapi_delegate)
        if library:
            found.append(
                f"{backend.name}: {library} (loads)"
                if backend.available
                else f"{backend.name}: unavailable: {backend.reason}"
            )
        elif uses_litert(parse_backend(backend.name), options.gpu_delegate):
            found.append(
                f"{backend.name}: LiteRT" if backend.available else f"{backend.name}: unavailable: {backend.reason}"
            )
    for kind, key in SOFTWARE_PROPS.items():
        if info.properties.get(key):
            found.append(f"software {kind}: {info.properties[key]}")
    return tuple(found)


def read_fingerprint(device: Device, info: DeviceInfo, conditions: Conditions, options: AgentOptions) -> Fingerprint:
    raw = device.props().raw
    soc = " ".join(v for v in (raw.get("ro.soc.manufacturer", ""), raw.get("ro.soc.model", "")) if v)
    kernel = device.shell("uname -r 2>/dev/null")
    return Fingerprint(
        build=raw.get("ro.build.fingerprint", ""),
        hardware=raw.get("ro.hardware", ""),
        soc=soc or raw.get("ro.board.platform", ""),
        kernel=kernel.stdout.strip() if kernel.ok else "",
        governors=conditions.governors,
        max_khz=conditions.max_khz,
        runtime=f"{info.runtime} {info.runtime_version}".strip(),
        delegates=_delegates(info, options),
    )
