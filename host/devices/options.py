"""The device options as declared parameters, shared by bench, doctor, devices and emulator."""

from __future__ import annotations

import re
import urllib.parse
from dataclasses import dataclass

from host.errors import InputError
from host.params import Param, at_least, positive

ADB_SERVER = Param(
    None, "adb server to use (default: $ANDROID_ADB_SERVER_PORT, else 5037 on this machine)", metavar="HOST:PORT"
)
DEVICE = Param(None, "device serial (default: the only device attached)", metavar="SERIAL")
DEVICES = Param(
    (),
    "device serial; repeat to bench several devices at once (default: the only one attached, else the emulated device)",
    metavar="SERIAL",
    many=True,
    flag="--device",
)
ALL_DEVICES = Param(False, "bench every device the adb server has ready (a farm host), each in parallel")
STF = Param(
    None,
    "reserve the devices from a DeviceFarmer/STF server at URL (token in $STF_TOKEN): the --device serials, "
    "or every free one that passes --stf-filter; they are given back when the bench ends",
    metavar="URL",
)
STF_FILTER = Param(
    None,
    "which STF devices: comma-separated FIELD OP VALUE over the farm's fields (=, !=, >=, <=, >, <, "
    "~ contains), e.g. 'sdk>=30,abi=arm64-v8a'",
    metavar="FILTER",
)
STF_TIMEOUT = Param(
    120.0,
    "STF reservation timeout: frees the phones by itself if this host dies mid-run",
    unit="minutes",
    metavar="MIN",
    check=positive,
)
RECONNECT_WAIT = Param(
    60.0,
    "how long a device that dropped off (USB re-enumeration, an adb server restart) is waited for, "
    "and reconnected where adb can, before its remaining cells fail",
    unit="seconds",
    metavar="S",
    check=at_least(0),
)
DEVICE_PYTHON = Param(
    None,
    "a Python 3 the device's shell user can run (default: python3 or python on its PATH)",
    metavar="PATH",
    check=lambda value: (
        None
        if value is None or (value.strip() and value.isprintable())
        else "must name a Python on the device (a path or a command name)"
    ),
)
GPU_DELEGATE = Param(
    "", "GPU delegate library on the device (default: libtensorflowlite_gpu_delegate.so)", metavar="LIB"
)
NNAPI_DELEGATE = Param(
    "", "NNAPI delegate library on the device (default: libtensorflowlite_nnapi_delegate.so)", metavar="LIB"
)


@dataclass(frozen=True)
class AdbOptions:
    """``host devices``: which adb server to ask."""

    adb_server: str | None = ADB_SERVER.field()


@dataclass(frozen=True)
class DoctorOptions:
    """``host doctor``: one device, and what the agent would be started with."""

    adb_server: str | None = ADB_SERVER.field()
    device: str | None = DEVICE.field()
    device_python: str | None = DEVICE_PYTHON.field()
    gpu_delegate: str = GPU_DELEGATE.field()
    nnapi_delegate: str = NNAPI_DELEGATE.field()


@dataclass(frozen=True)
class OneDevice:
    """A command on one device: the one named, or the only one attached."""

    adb_server: str | None = ADB_SERVER.field()
    device: str | None = DEVICE.field()


LITERT = Param(
    None,
    "push a LiteRT release for the phone instead: the folder with libLiteRt.so, its GPU accelerator "
    "(libLiteRtClGlAccelerator.so) and any vendor NPU dispatch libraries (Google's prebuilt "
    "binaries/<version>/<platform>/, or a wheel's ai_edge_litert folder for x86_64)",
    metavar="DIR",
)


def _release_version(value: str | None) -> str | None:
    """A LiteRT release's version as its folders and wheels name it (2.3.1, 2.3.0rc1)."""
    return (
        None
        if not value or re.fullmatch(r"\d+\.\d+\.\d+[0-9A-Za-z.]*", value)
        else f"must be a version like 2.3.1, not {value!r}"
    )


LITERT_VERSION = Param(
    "", "the LiteRT version of --litert DIR when its path does not say", metavar="X.Y.Z", check=_release_version
)


@dataclass(frozen=True)
class ProvisionOptions:
    """``host provision``: one device; Termux's packages, or a LiteRT release with --litert."""

    adb_server: str | None = ADB_SERVER.field()
    device: str | None = DEVICE.field()
    litert: str | None = LITERT.field()
    litert_version: str = LITERT_VERSION.field()


@dataclass(frozen=True)
class AgentCommandOptions:
    """``host agent-command``: the device, and the delegates the pasted agent is started with."""

    adb_server: str | None = ADB_SERVER.field()
    device: str | None = DEVICE.field()
    gpu_delegate: str = GPU_DELEGATE.field()
    nnapi_delegate: str = NNAPI_DELEGATE.field()


def check_stf_url(url: str) -> None:
    """An STF server's address: http(s), a host, a port that is a port; refused before any request."""
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port
    except ValueError as e:
        raise InputError(f"--stf {url} is not a usable URL ({e})") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InputError(
            f"--stf takes the STF server's http:// or https:// URL (such as http://stf.lab:7100), not {url!r}"
        )
    if port == 0:
        raise InputError(f"--stf {url}: port 0 is not a server's port")


@dataclass(frozen=True)
class DeviceChoice:
    """Which devices a bench runs on and how the agent is started there: the part the selection
    and launch layers take."""

    device: tuple[str, ...] = DEVICES.field()
    all_devices: bool = ALL_DEVICES.field()
    adb_server: str | None = ADB_SERVER.field()
    stf: str | None = STF.field()
    stf_filter: str | None = STF_FILTER.field()
    stf_timeout: float = STF_TIMEOUT.field()
    reconnect_wait: float = RECONNECT_WAIT.field()
    device_python: str | None = DEVICE_PYTHON.field()
    gpu_delegate: str = GPU_DELEGATE.field()
    nnapi_delegate: str = NNAPI_DELEGATE.field()
    wait: bool = Param(
        True, "refuse a device another bench on this machine is using, instead of waiting for it", flag="--no-wait"
    ).field()
    attach: bool = Param(
        False,
        "use the agent started inside the Termux app with the line from 'host agent-command' "
        "(Termux from F-Droid or Play)",
    ).field()

    def validate(self) -> None:
        """The combinations that cannot work, and the adb server's address; no device is asked."""
        from host.devices.transport.adb import parse_server

        parse_server(self.adb_server)
        if self.stf:
            check_stf_url(self.stf)
        if self.stf_filter:
            from host.devices.selection.stf import parse_filter

            parse_filter(self.stf_filter)
        if self.stf_filter and not self.stf:
            raise InputError("--stf-filter chooses devices of an STF server: give its URL with --stf")
        if self.all_devices and (self.device or self.stf):
            raise InputError("--all-devices takes every ready device: leave out --device and --stf")
        if self.stf and self.device and self.stf_filter:
            raise InputError("--stf takes devices by --device serial or by --stf-filter, not both")
