"""Devices over ADB, by layer; only ``transport`` imports adbutils, the rest of the host gets ``Device``.

``transport`` (the adb server, shell, sync) is the floor; ``selection`` (which devices) and
``launch`` (starting the agent) stand on it; ``state`` (conditions, fingerprint) reads the
phone through a launcher's options; ``agent`` (channel, client, session) uses them all.
``options`` holds the shared parameter tables and imports no layer.
"""
