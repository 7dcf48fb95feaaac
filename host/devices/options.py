"""The device options as declared parameters, shared by bench, doctor, devices and emulator."""

from __future__ import annotations

from dataclasses import dataclass

from host.params import Param

ADB_SERVER = Param(None, "adb server to use (default: $ANDROID_ADB_SERVER_PORT, else 5037 on this machine)",
                   metavar="HOST:PORT")
DEVICE = Param(None, "device serial (default: the only device attached)", metavar="SERIAL")
DEVICES = Param((), "device serial; repeat to bench several devices at once (default: the only one attached, "
                "else the emulated device)", metavar="SERIAL", many=True, flag="--device")
DEVICE_PYTHON = Param(None, "a Python 3 the device's shell user can run (default: python3 or python on its PATH)",
                      metavar="PATH")
GPU_DELEGATE = Param("", "GPU delegate library on the device (default: libtensorflowlite_gpu_delegate.so)", metavar="LIB")
NNAPI_DELEGATE = Param("", "NNAPI delegate library on the device (default: libtensorflowlite_nnapi_delegate.so)",
                       metavar="LIB")


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


@dataclass(frozen=True)
class AgentCommandOptions:
    """``host agent-command``: the device, and the delegates the pasted agent is started with."""

    adb_server: str | None = ADB_SERVER.field()
    device: str | None = DEVICE.field()
    gpu_delegate: str = GPU_DELEGATE.field()
    nnapi_delegate: str = NNAPI_DELEGATE.field()
