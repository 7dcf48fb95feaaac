"""Choosing STF devices: by serial, or by a filter over the farm's fields; only free ones."""

from __future__ import annotations

import pytest

from host.devices.selection.stf import FarmDevice, select
from host.errors import InputError

FARM = [
    FarmDevice(
        "A", {"sdk": "34", "abi": "arm64-v8a", "model": "Pixel 8", "present": True, "ready": True, "owner": None}
    ),
    FarmDevice("B", {"sdk": "29", "abi": "arm64-v8a", "model": "Galaxy A10", "present": True, "ready": True}),
    FarmDevice(
        "C",
        {
            "sdk": "33",
            "abi": "arm64-v8a",
            "model": "Pixel 7",
            "present": True,
            "ready": True,
            "owner": {"email": "x@y"},
        },
    ),
    FarmDevice("D", {"sdk": "31", "abi": "x86_64", "model": "Pixel 6", "present": False, "ready": False}),
]


def test_a_filter_picks_free_devices_that_pass_every_condition():
    assert [d.serial for d in select(FARM, (), "sdk>=30,abi=arm64-v8a")] == ["A"]
    assert [d.serial for d in select(FARM, (), "model~pixel")] == ["A"]
    assert [d.serial for d in select(FARM, (), "sdk<30")] == ["B"]
    assert [d.serial for d in select(FARM, (), "model!=Pixel 8")] == ["B"]
    assert [d.serial for d in select(FARM, (), None)] == ["A", "B"]


def test_named_serials_are_taken_as_named_and_bad_filters_say_why():
    assert [d.serial for d in select(FARM, ("C", "A"), None)] == ["C", "A"], "the farm then says whether it is free"
    with pytest.raises(InputError, match="STF has no device Z"):
        select(FARM, ("Z",), None)
    with pytest.raises(InputError, match="1 matching but in use or offline"):
        select(FARM, (), "sdk>=33,model~pixel 7")
    with pytest.raises(InputError, match="not FIELD OP VALUE"):
        select(FARM, (), "sdk")
    with pytest.raises(InputError, match="needs numbers"):
        select(FARM, (), "model>3")
