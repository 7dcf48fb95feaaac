"""The emulated device's one root exception: what the host's side (``host.emulator.manager``)
maps to its own ``EmulatorError`` or ``InputError`` at the boundary."""


class EmulatedDeviceError(Exception):
    """The emulated device cannot do what was asked (no such profile, no running app)."""


class UnknownProfile(EmulatedDeviceError):
    """A profile name that is not one of PROFILES."""
