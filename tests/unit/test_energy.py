"""Energy per inference: the meters' parsers against recorded formats, the method, the gate and the pick.

The recorded outputs below are written from the formats' sources, since a phone's own dump cannot
be shipped with the tests:

* ``PIXEL6_HAL_DUMP``: ``dumpsys android.hardware.power.stats.IPowerStats/default`` on a Pixel 6,
  in the format of hardware/google/pixel ``powerstats/PowerStats.cpp`` (``dumpStateResidency``,
  ``dumpEnergyConsumer``, ``dumpEnergyMeter``: ``"  %32s   %14.2f mWs"`` per channel, named
  ``[RAIL]:SUBSYSTEM``), with the ODPM rails a Pixel 6 (gs101) reports and its subsystems.
* ``PIXEL6_HAL_DELTA``: the same with the ``delta`` argument (androidx.benchmark's ``PowerRail``
  asks for it): ``"  %32s   %14.2f mWs (%14.2f)"`` after an ``Elapsed time`` line.
* Fuel gauges: the kernel's power-supply sysfs ABI (Documentation/ABI/testing/sysfs-class-power:
  ``current_now`` in uA, ``voltage_now`` in uV, ``status`` one of Unknown, Charging, Discharging,
  Not charging, Full), as a Pixel reports them (negative current while discharging) and as older
  gauges do (positive milliamps and millivolts).
"""

from __future__ import annotations

import struct
from dataclasses import replace

import pytest

from device_agent.contract import EnergyWindow
from emulated_device.power import BIG, LITTLE, float32, hal_dump
from host.devices.energy.method import cumulative, energy_record, interval, loop_seconds, update_period
from host.devices.energy.sampler import Sample, parse_stream, sampler_command
from host.devices.energy.sources import EnergySource, gauge_refusal, parse_gauge, parse_rails, rail_resolution_mj
from host.gate import stats
from host.gate.options import Thresholds
from host.gate.verdicts import compare
from host.quant.pareto import recommend
from host.report.energy import energy_cell, energy_lines, energy_text
from host.results import EnergyRecord, EnergyRepeat
from tests import records

PIXEL6_HAL_DUMP = """
============= PowerStats HAL 2.0 state residencies ==============
            Entity                State         Total time   Total entries   Last entry tstamp
               AoC                  AOC          152300 ms            211          88301220 ms
               AoC                 DEEP          901200 ms            207          88302101 ms
========== End of PowerStats HAL 2.0 state residencies ==========

============= PowerStats HAL 2.0 energy consumers ==============
CPUCL0       :      289995.53 mWs
       10123 -       1203.50 mWs
GPU          :      370204.16 mWs
========== End of PowerStats HAL 2.0 energy consumers ==========

============= PowerStats HAL 2.0 energy meter ==============
                           Channel    Cumulative Energy
      [S4M_VDD_CPUCL0]:CPU(LITTLE)        289995.53 mWs
         [S3M_VDD_CPUCL1]:CPU(MID)        170096.36 mWs
         [S2M_VDD_CPUCL2]:CPU(BIG)        124265.86 mWs
                 [S5M_VDD_INT]:INT        190164.70 mWs
                 [S1M_VDD_MIF]:MIF        196512.89 mWs
                 [S2S_VDD_G3D]:GPU        370204.16 mWs
                 [S7M_VDD_TPU]:TPU         48213.05 mWs
        [VSYS_PWR_DISPLAY]:Display        611687.44 mWs
          [VSYS_PWR_MODEM]:Modem        179646.98 mWs
========== End of PowerStats HAL 2.0 energy meter ==========
"""

PIXEL6_HAL_DELTA = """
============= PowerStats HAL 2.0 energy meter ==============
Elapsed time: 5012 ms
                           Channel    Cumulative Energy (Delta         )
      [S4M_VDD_CPUCL0]:CPU(LITTLE)        290120.41 mWs (        124.88)
         [S2M_VDD_CPUCL2]:CPU(BIG)        131001.02 mWs (       6735.16)
========== End of PowerStats HAL 2.0 energy meter ==========
"""


def test_the_pixel_hal_dump_gives_each_meter_channel_and_nothing_of_the_other_sections():
    rails = parse_rails(PIXEL6_HAL_DUMP)
    assert list(rails)[:3] == ["[S4M_VDD_CPUCL0]:CPU(LITTLE)", "[S3M_VDD_CPUCL1]:CPU(MID)", "[S2M_VDD_CPUCL2]:CPU(BIG)"]
    assert len(rails) == 9 and rails["[S7M_VDD_TPU]:TPU"] == 48213.05 and rails["[S2S_VDD_G3D]:GPU"] == 370204.16
    assert not any("CPUCL0 " in name or name.startswith("AoC") for name in rails)  # consumers and residencies


def test_the_delta_form_reads_the_cumulative_figure_not_the_delta():
    assert parse_rails(PIXEL6_HAL_DELTA) == {
        "[S4M_VDD_CPUCL0]:CPU(LITTLE)": 290120.41,
        "[S2M_VDD_CPUCL2]:CPU(BIG)": 131001.02,
    }


@pytest.mark.parametrize(
    "text", ["", "Can't find service: android.hardware.power.stats.IPowerStats/default\n", PIXEL6_HAL_DUMP[:300]]
)
def test_a_phone_without_rails_gives_none(text):
    assert parse_rails(text) == {}


def test_a_readings_resolution_is_the_32_bit_floats_spacing_at_its_value():
    # 290 J as microjoules in a float: 2.9e8 lies in [2^28, 2^29), where floats are 32 uJ apart
    assert rail_resolution_mj(290_000.0) == pytest.approx(0.032)
    assert rail_resolution_mj(12.5) == 0.01  # small counters: the two printed decimals


def test_the_emulated_hal_prints_the_pixel_format_with_float32_rounding():
    energy = {LITTLE: 123_456_789.0, BIG: 5.0}
    rails = parse_rails(hal_dump(energy))
    assert rails["[S4M_VDD_CPUCL0]:CPU(LITTLE)"] == round(float32(123_456_789.0) / 1000, 2) != 123456.789
    assert rails["[S2M_VDD_CPUCL2]:CPU(BIG)"] == 0.01
    assert struct.pack("f", float32(1.1)) == struct.pack("f", 1.1)


@pytest.mark.parametrize(
    ("line", "status", "watts"),
    [
        ("G Discharging -452000 3876000", "Discharging", 0.452 * 3.876),  # a Pixel: uA, negative discharging
        ("G Discharging 350 3900", "Discharging", 0.350 * 3.9),  # an older gauge: mA and mV
        ("G Charging 1200000 4350000", "Charging", 0.0),
        ("G Not charging 0 4200000", "Not charging", 0.0),
    ],
)
def test_fuel_gauge_readings(line, status, watts):
    reading = parse_gauge(line)
    assert reading is not None and reading.status == status and reading.watts == pytest.approx(watts)


@pytest.mark.parametrize("line", ["", "G Discharging", "G Discharging x 3876000", "T 12.5"])
def test_an_unreadable_gauge_line_is_no_reading(line):
    assert parse_gauge(line) is None


def test_only_a_discharging_battery_measures_the_phone():
    assert gauge_refusal("Discharging") == ""
    assert "charger" in gauge_refusal("Charging") and "Wi-Fi" in gauge_refusal("Full")


def test_the_sampler_stamps_each_reading_with_the_middle_of_its_clock_reads_and_drops_a_cut_one():
    rails = EnergySource("rails", ("[A]:X",))

    def reading(mws: str) -> list[str]:  # what the sampler's sed keeps of the dump: the meter section
        return [
            "============= PowerStats HAL 2.0 energy meter ==============",
            "                           Channel    Cumulative Energy",
            f"                             [A]:X   {mws} mWs",
            "========== End of PowerStats HAL 2.0 energy meter ==========",
        ]

    lines = ["T 100.00", *reading("10.00"), "U 100.10", "T 100.30", *reading("12.00"), "U 100.40", "T 100.60"]
    lines += reading("13.00")
    samples = parse_stream(lines, rails)
    assert [(s.t, s.values) for s in samples] == [(pytest.approx(100.05), {"[A]:X": 10.0}), (100.35, {"[A]:X": 12.0})]
    gauge = parse_stream(["T 5.0", "G Discharging -500000 4000000", "U 5.2"], EnergySource("gauge", ("battery",)))
    assert gauge[0].status == "Discharging" and gauge[0].values == {"battery": pytest.approx(2.0)}
    command = sampler_command(rails, 30.5)
    assert "/proc/uptime" in command and "$(( ${u%.*} + 31 ))" in command and "python" not in command


def _rail_samples(idle_w: float, loop_w: float, windows: list[tuple[float, float, float, float]], step: float = 0.1):
    """Cumulative mJ on two rails sampled every ``step`` s: rail A the idle floor, rail B the
    model's extra power inside each loop window."""
    first, count = windows[0][0] - 1.0, round((windows[-1][3] - windows[0][0] + 2.0) / step)
    samples, a, b = [], 0.0, 0.0
    for i in range(count + 1):
        t = first + i * step
        samples.append(Sample(round(t, 6), {"[A]:floor": a, "[B]:CPU": b}))
        middle = t + step / 2
        a += idle_w * step * 1000
        b += (loop_w - idle_w) * step * 1000 if any(start <= middle < stop for _, _, start, stop in windows) else 0.0
    return samples


def _windows(n: int = 3, length: float = 5.0) -> list[tuple[float, float, float, float]]:
    start, found = 100.0, []
    for _ in range(n):
        found.append((start, start + length, start + length, start + 2 * length))
        start += 2 * length
    return found


def test_one_inference_costs_the_loops_energy_above_the_idle_baseline_over_the_inferences():
    spans = _windows()
    samples = _rail_samples(0.4, 1.4, spans)
    windows = tuple(EnergyWindow(*w, inferences=5000) for w in spans)
    record = energy_record(EnergySource("rails", ("[A]:floor", "[B]:CPU")), samples, windows, 5.0, 0.1)
    # 1 W above the 0.4 W idle for 5 s is 5000 mJ, over 5000 inferences
    assert record.mj_per_inference == pytest.approx(1.0, rel=0.02)
    assert record.baseline_mw == pytest.approx(400, rel=0.02)
    assert record.rails_mj["[B]:CPU"] == pytest.approx(1.0, rel=0.02) and abs(record.rails_mj["[A]:floor"]) < 0.01
    assert len(record.repeats) == 3 and not record.below_resolution
    assert record.ci_low is not None and record.ci_high is not None and record.ci_low <= 1.0 <= record.ci_high + 0.02


def test_a_figure_whose_interval_is_wider_than_itself_is_below_resolution():
    spans = _windows()
    samples = _rail_samples(0.4, 0.4, spans)  # the model costs nothing measurable
    jitter = [0.03, -0.02, 0.01]
    samples = [
        Sample(
            s.t,
            {
                k: v + (jitter[int((s.t - 100) // 10) % 3] * 1000 if k == "[B]:CPU" and s.t > 105 else 0)
                for k, v in s.values.items()
            },
        )
        for s in samples
    ]
    windows = tuple(EnergyWindow(*w, inferences=1000) for w in spans)
    record = energy_record(EnergySource("rails", ("[A]:floor", "[B]:CPU")), samples, windows, 5.0, 0.1)
    assert record.below_resolution and energy_cell(record) == "below resolution"
    assert "below resolution" in energy_text(record)


def test_a_meter_reset_drops_that_repeat_and_says_so():
    spans = _windows()
    samples = _rail_samples(0.4, 1.4, spans)
    reset = [Sample(s.t, {k: v - 1e6 if s.t > 126 else v for k, v in s.values.items()}) for s in samples]
    windows = tuple(EnergyWindow(*w, inferences=5000) for w in spans)
    record = energy_record(EnergySource("rails", ("[A]:floor", "[B]:CPU")), reset, windows, 5.0, 0.1)
    assert len(record.repeats) == 2 and "repeat 3" in record.note and "backwards" in record.note


def test_windows_the_samples_do_not_cover_leave_no_figure():
    spans = _windows()
    samples = [s for s in _rail_samples(0.4, 1.4, spans) if s.t < 112]
    windows = tuple(EnergyWindow(*w, inferences=5000) for w in spans)
    record = energy_record(EnergySource("rails", ("[A]:floor", "[B]:CPU")), samples, windows, 5.0, 0.1)
    assert record.mj_per_inference is None and record.source == "" and "fewer than two repeats" in record.note


def test_a_fuel_gauges_power_is_integrated_and_a_charging_battery_gives_no_figure():
    spans = _windows()
    rails = _rail_samples(0.5, 2.5, spans, step=0.25)
    total = [r.values["[A]:floor"] + r.values["[B]:CPU"] for r in rails]
    watts = [(later - earlier) / 0.25 / 1000 for earlier, later in zip(total, total[1:], strict=False)] + [0.5]
    gauge = [Sample(r.t, {"battery": w}, "Discharging") for r, w in zip(rails, watts, strict=True)]
    source = EnergySource("gauge", ("battery",))
    times, energy = cumulative(gauge, source)
    assert energy["battery"][-1] == pytest.approx(sum(watts[:-1]) * 0.25 * 1000, rel=0.01)
    windows = tuple(EnergyWindow(*w, inferences=1000) for w in spans)
    record = energy_record(source, gauge, windows, 5.0, 0.25)
    assert record.mj_per_inference == pytest.approx(10.0, rel=0.06)  # 2 W above idle for 5 s over 1000
    charging = [Sample(s.t, s.values, "Charging") for s in gauge]
    refused = energy_record(source, charging, windows, 5.0, 0.25)
    assert refused.mj_per_inference is None and "charger" in refused.note


def test_the_loop_spans_twenty_of_the_meters_updates_and_at_least_the_minimum():
    assert loop_seconds(0.1) == 5.0 and loop_seconds(1.0) == 20.0 and loop_seconds(0.1, 8.0) == 8.0
    steady = [Sample(t / 10, {"a": float(t // 5)}) for t in range(40)]  # changes every 0.5 s
    assert update_period(steady) == pytest.approx(0.5)
    assert update_period([Sample(0, {"a": 1.0}), Sample(1, {"a": 1.0})]) == 0.0
    low, high = interval([1.0, 1.2, 0.8])
    assert low < 1.0 < high and interval([2.0, 2.0])[0] == 2.0


def _energy(values: list[float], emulated: bool = False, below: bool = False) -> EnergyRecord:
    mean = sum(values) / len(values)
    low, high = interval(values)
    return EnergyRecord(
        source="rails",
        label="power rails (ODPM)",
        emulated=emulated,
        repeats=tuple(EnergyRepeat(5.0, 5.0, 1000, 2000.0, 2000.0 + v * 1000, v) for v in values),
        mj_per_inference=mean,
        ci_low=low,
        ci_high=high,
        below_resolution=below,
    )


def test_the_gate_judges_energy_on_the_repeats_when_both_runs_have_it():
    limits = Thresholds()
    assert stats.energy([1.0, 1.01, 0.99], [1.5, 1.51, 1.49], limits).verdict == stats.REGRESSED
    assert stats.energy([1.0, 1.01, 0.99], [1.0, 0.99, 1.01], limits).verdict == stats.NO_REGRESSION
    assert stats.energy([1.0, 1.5, 0.6], [1.2, 0.7, 1.6], limits).verdict == stats.INCONCLUSIVE

    def run(run_id: str, values: list[float] | None, below: bool = False):
        cell = records.cell("A", "none", "cpu1", medians=(1.0, 1.0, 1.0, 1.0, 1.0))
        if values is not None:
            cell = replace(cell, energy=_energy(values, below=below))
        return records.run(run_id, [cell], backends=("cpu1",), devices=[records.device("A")])

    found = compare(run("b", [1.0, 1.01, 0.99]), run("c", [1.3, 1.31, 1.29])).findings
    energy = [f for f in found if f.check == "energy"]
    assert energy and energy[0].regressed and "Welch" in energy[0].detail and "limit +10%" in energy[0].detail
    assert not [f for f in compare(run("b", None), run("c", [1.3, 1.31, 1.29])).findings if f.check == "energy"]
    below = [f for f in compare(run("b", [1.0, 1.0]), run("c", [2.0, 0.1], below=True)).findings if f.check == "energy"]
    assert below[0].verdict == stats.INCONCLUSIVE and "resolution" in below[0].detail


def test_prefer_energy_picks_the_least_energy_never_from_the_emulated_model():
    def run(energies: dict[str, EnergyRecord]):
        cells = [
            replace(records.cell("A", mode, "cpu4", samples=(p50,) * 5, top1=0.9), energy=energies.get(mode))
            for mode, p50 in (("none", 2.0), ("float16", 1.5), ("integer", 1.0))
        ]
        return records.run(
            "r", cells, modes=("none", "float16", "integer"), backends=("cpu4",), devices=[records.device("A")]
        )

    real = {
        "none": _energy([3.0, 3.1, 2.9]),
        "float16": _energy([1.0, 1.02, 0.98]),
        "integer": _energy([2.0, 2.1, 1.9]),
    }
    pick = recommend(run(real), prefer="energy")
    assert pick.pick is not None and pick.pick.mode == "float16" and "least energy" in pick.reason
    assert recommend(run(real)).pick.mode == "integer"  # latency stays the default
    tied = {**real, "integer": _energy([1.0, 1.2, 0.8])}
    assert recommend(run(tied), prefer="energy").pick.mode == "integer"  # inside the noise: the faster wins
    emulated = {m: _energy([1.0, 1.01, 0.99], emulated=True) for m in real}
    none = recommend(run(emulated), prefer="energy")
    assert none.pick is None and "emulated energy model" in none.reason


def test_the_console_says_the_method_and_marks_the_emulated_model():
    cell = replace(records.cell("A", "none", "cpu1"), energy=_energy([1.0, 1.1, 0.9], emulated=True))
    lines = energy_lines([cell])
    assert "power rails" in lines[0] and any("never used to pick" in line for line in lines)
    missing = replace(records.cell("A", "none", "cpu1"), energy=EnergyRecord(note="no meter"))
    assert energy_lines([missing]) == ["energy: no figure: no meter"]
