"""The host's exception hierarchy.

Every error the library raises on purpose derives from :class:`HostError`, so the CLI can turn
it into one line and an exit code without a traceback. ``InputError`` and its children are the
user's to fix (exit 2); other ``HostError``s are failures of the world we talk to.
"""

from __future__ import annotations


class HostError(Exception):
    """Root of every error the host raises on purpose."""

    exit_code = 1


class InputError(HostError):
    """Bad usage or bad input: the user can fix it by changing what they pass."""

    exit_code = 2


class ModelLoadError(InputError):
    """The model file or name cannot be turned into a Keras/TensorFlow model."""


class DatasetError(InputError):
    """An image folder or labels file cannot be used."""


class ModeError(InputError):
    """A quantization mode name is unknown or cannot apply to the inputs given."""


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


class ModelRejected(AgentError):
    """The device's TFLite interpreter rejects the model."""


class UploadRejected(AgentError):
    """An upload was refused: over the cap, or its bytes do not match its name."""


class DeviceError(HostError):
    """Root of failures talking to a device over ADB."""


class DeviceNotFound(DeviceError, InputError):
    """No device with that serial (exit 2: the user named it)."""


class DeviceUnauthorized(DeviceError, InputError):
    """The phone has not accepted this computer's USB debugging key."""


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


class BenchInterrupted(HostError):
    """Ctrl-C (or SIGTERM) during a bench: finished cells are stored and the run can resume."""

    exit_code = 130
