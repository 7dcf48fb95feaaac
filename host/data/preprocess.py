"""The preprocessing presets, as the host sees them: unknown names are input errors."""

from __future__ import annotations

from device_agent.measuring.preprocess import PRESETS, Preset, UnknownPreset
from device_agent.measuring.preprocess import get_preset as _get_preset
from host.errors import InputError

__all__ = ["PRESETS", "Preset", "get_preset"]


def get_preset(name: str) -> Preset:
    try:
        return _get_preset(name)
    except UnknownPreset as e:
        raise InputError(str(e)) from e
