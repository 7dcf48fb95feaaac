"""The host's side of the emulated device: start it, connect it to the adb server, stop it
(``manager``), and the options of ``host emulator``. The device itself is ``emulated_device``."""
