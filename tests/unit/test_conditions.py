"""Reading a phone's heat and clocks from what Android prints, and the rules built on them."""

from __future__ import annotations

from host.devices.state.conditions import cool, fastest_cores, parse_conditions
from host.results import Conditions

PIXEL = """zone cpu-0-0-usr 41200
zone cpu-1-0-usr 47800
zone battery 31000
zone sdm-therm -1
cpu 0 1804800 1804800 schedutil
cpu 1 300000 1804800 schedutil
cpu 4 2131200 2419200 performance
cpu 7 2841600 2841600
Thermal Status: 2
  AC powered: false
  USB powered: true
  Wireless powered: false
  level: 87
  temperature: 312
"""


def test_a_phones_snapshot_is_read_as_given_and_unknowns_stay_unknown():
    c = parse_conditions(PIXEL)
    assert c.temperatures_c == {"cpu-0-0-usr": 41.2, "cpu-1-0-usr": 47.8, "battery": 31.0, "sdm-therm": -1.0}
    assert c.thermal_status == 2 and c.hottest_c == 47.8, "the hottest CPU zone, not the battery"
    assert c.max_khz == (1804800, 1804800, 0, 0, 2419200, 0, 0, 2841600), "CPUs that said nothing are 0, not guessed"
    assert c.governors == ("schedutil", "schedutil", "", "", "performance", "", "", "")
    assert (c.battery_level, c.battery_temp_c, c.plugged) == (87, 31.2, "usb")
    assert parse_conditions("") == Conditions()
    assert parse_conditions("zone x unreadable\ncpu 0\n").cur_khz == (0,)


def test_the_fastest_cores_and_when_a_phone_counts_as_cool():
    assert fastest_cores(parse_conditions(PIXEL)) == 1 << 7
    assert fastest_cores(Conditions(max_khz=(1800, 1800, 2400, 2400))) == 0b1100
    assert fastest_cores(Conditions()) == 0
    assert not cool(parse_conditions(PIXEL), 60.0), "thermal status moderate is not cool, whatever the zones say"
    assert not cool(Conditions({"cpu": 50.0}, 0), 45.0) and cool(Conditions({"cpu": 40.0}, 0), 45.0)
    assert cool(Conditions(), 45.0), "a phone that hides its sensors is not waited on forever"
