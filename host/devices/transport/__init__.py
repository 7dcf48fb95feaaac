"""ADB transport: the adb server, one device's shell, sync and forwards."""
