"""The x86 emulated Android device: a device-side ADB daemon over a sandbox folder.

There is no Android emulator on our machines, so this stands in for a phone: the real ``adb``
server connects to it (``adb connect 127.0.0.1:PORT``) and every ADB service the tool uses
(shell v1/v2, exec, sync, tcp forwards) is served from a sandbox root with the host's Python.
"""
