"""Devices over ADB. Only this package imports adbutils; the rest of the host gets ``Device``."""
