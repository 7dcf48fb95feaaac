"""The host's exception hierarchy and its exit codes, in one table.

Every error the library raises on purpose derives from :class:`HostError`, so the CLI turns it
into one line and the exit code its class names, never a traceback. ``InputError`` and its
children are the user's to fix (exit 2); other ``HostError``s are failures of the world we
talk to (exit 1).
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Every exit status of ``host``; the README's table is checked against this one."""

    OK = 0
    FAILED = 1
    USAGE = 2
    INTERRUPTED = 130


EXIT_CODE_MEANINGS: dict[ExitCode, str] = {
    ExitCode.OK: "success: every cell ok or unavailable (bench); no regression (check, compare; inconclusive cells "
    "too, unless --inconclusive fail); a launcher works (doctor)",
    ExitCode.FAILED: "some cells failed or gave unscorable outputs (numerics), after every other cell ran (bench); "
    "a regression (check, compare); the device lacks what the agent needs (doctor); a device, adb, "
    "agent or server failure, a malformed answer from a server (STF) included; a results database "
    "that stayed unavailable past the retries (the printed command resumes)",
    ExitCode.USAGE: "bad usage or bad input, with a one-line reason (unknown mode, missing file, several devices "
    "and no --device, a damaged database)",
    ExitCode.INTERRUPTED: "Ctrl-C or SIGTERM; finished cells are stored and the printed command resumes the run",
}


class HostError(Exception):
    """Root of every error the host raises on purpose."""

    exit_code = ExitCode.FAILED


class InputError(HostError):
    """Bad usage or bad input: the user can fix it by changing what they pass."""

    exit_code = ExitCode.USAGE


class ModelLoadError(InputError):
    """The model file or name cannot be turned into a Keras/TensorFlow model."""


class DatasetError(InputError):
    """An image folder or labels file cannot be used."""


class ModeError(InputError):
    """A quantization mode name is unknown or cannot apply to the inputs given."""


class StoreError(InputError):
    """The results database cannot be used (not ours, damaged, newer schema): pick another."""


class StoreUnavailable(HostError):
    """The results database went away (a server restart that did not end, a lock never given up)
    and stayed away past the retries: not bad input; what was stored stays, and the run resumes."""


class RecordError(InputError):
    """Stored or given data (a database row, a JSON file) does not have the shape it must have."""


class OutputError(InputError):
    """A file the user asked for cannot be written there (no space, no permission, no folder)."""


class ConversionError(HostError):
    """One mode failed in the TFLite converter; other modes are unaffected."""


class AgentError(HostError):
    """Root of failures talking to the device agent."""


class AgentUnavailable(AgentError):
    """The agent cannot be reached (not started, port forward gone, device disconnected)."""


class AgentTimeout(AgentError):
    """A call to the agent ran past its deadline."""


class AgentUnauthenticated(AgentError):
    """The agent refused the session token."""


class AgentRequestError(AgentError):
    """The agent refused a request as invalid (bad name, unknown backend, missing file)."""


class UploadRejected(AgentError):
    """An upload was refused: over the cap, or its bytes do not match its name."""


class AgentProtocolError(AgentError):
    """The agent answered with a message this host cannot read (another version of the contract)."""


class DeviceError(HostError):
    """Root of failures talking to a device over ADB."""


class DeviceNotFound(DeviceError, InputError):
    """No device with that serial, or none at all (exit 2: the user names or attaches one)."""


class AmbiguousDevice(DeviceError, InputError):
    """Several devices are attached and none was named."""


class DeviceUnauthorized(DeviceError, InputError):
    """The phone has not accepted this computer's USB debugging key."""


class DeviceBusy(DeviceError):
    """Another bench on this machine is using the device (and --no-wait was given)."""


class StorageFull(DeviceError):
    """The device has not the room for the files a run needs."""


class DeviceOffline(DeviceError):
    """The device is known to adb but offline."""


class DeviceDisconnected(DeviceError):
    """The device went away in the middle of an operation."""


class DeviceTimeout(DeviceError):
    """An ADB operation ran past its deadline."""


class AdbServerError(DeviceError):
    """The adb server cannot be reached or started."""


class DeployError(DeviceError):
    """The agent could not be deployed or started on the device."""


class EmulatorError(DeviceError):
    """The emulated device could not be started or reached."""


class BenchInterrupted(HostError):
    """Ctrl-C (or SIGTERM) during a bench: finished cells are stored and the run can resume."""

    exit_code = ExitCode.INTERRUPTED
