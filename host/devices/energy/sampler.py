"""Readings of a phone's energy meter, taken on the device on its boot clock, while a cell runs.

One ``adb shell`` loops on the device: the boot clock (``/proc/uptime``), one reading, the boot
clock again, a short sleep. Each reading is stamped with the middle of its two clock reads, so the
host and the worker (which stamps its windows with ``CLOCK_BOOTTIME``) share one clock and no adb
round trip sits between a window's edge and its reading. The loop ends by itself after
``bound_s`` and when the host closes the stream. The sampler runs during the idle baseline too,
so what it costs the phone is in both windows and cancels out.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from host.devices.energy.sources import GAUGE_COMMAND, RAILS_COMMAND, EnergySource, parse_gauge, parse_rails
from host.devices.transport.device import Device, LineStream
from host.errors import DeviceError

SAMPLE_PERIOD_S = 0.2


@dataclass(frozen=True)
class Sample:
    """One reading: when (boot clock, s), and per rail the cumulative mJ (rails) or the battery's
    power in W (gauge, with its status)."""

    t: float
    values: dict[str, float]
    status: str = ""


def sampler_command(source: EnergySource, bound_s: float, period_s: float = SAMPLE_PERIOD_S) -> str:
    reading = RAILS_COMMAND if source.kind == "rails" else GAUGE_COMMAND
    return (
        f"read u _ < /proc/uptime; end=$(( ${{u%.*}} + {int(bound_s) + 1} )); "
        f'while :; do read a _ < /proc/uptime; echo "T $a"; {reading}; read b _ < /proc/uptime; echo "U $b"; '
        f"[ ${{b%.*}} -ge $end ] && break; sleep {period_s:g}; done"
    )


def parse_stream(lines: list[str], source: EnergySource) -> list[Sample]:
    """The sampler's output as samples; a reading cut off (no closing clock read) is dropped."""
    samples: list[Sample] = []
    start: float | None = None
    body: list[str] = []
    for line in lines:
        if line.startswith("T "):
            start, body = _clock(line), []
        elif line.startswith("U ") and start is not None:
            end = _clock(line)
            sample = _sample(body, source, (start + end) / 2) if end is not None else None
            if sample is not None:
                samples.append(sample)
            start = None
        else:
            body.append(line)
    return samples


def _clock(line: str) -> float | None:
    try:
        return float(line.split()[1])
    except (IndexError, ValueError):
        return None


def _sample(body: list[str], source: EnergySource, t: float) -> Sample | None:
    if source.kind == "rails":
        rails = parse_rails("\n".join(body))
        return Sample(t, rails) if rails else None
    reading = next((r for r in map(parse_gauge, body) if r is not None), None)
    return Sample(t, {"battery": reading.watts}, reading.status) if reading else None


@dataclass
class Sampler:
    """Samples ``source`` on ``device`` while its ``with`` block runs."""

    device: Device
    source: EnergySource
    bound_s: float
    lines: list[str] = field(default_factory=list)
    error: str = ""
    _stream: LineStream | None = None
    _thread: threading.Thread | None = None

    def __enter__(self) -> Sampler:
        self._stream = self.device.shell_lines(sampler_command(self.source, self.bound_s), timeout=self.bound_s + 60)
        self._thread = threading.Thread(target=self._read, name="energy-sampler", daemon=True)
        self._thread.start()
        return self

    def _read(self) -> None:
        assert self._stream is not None
        try:
            for line in self._stream:
                self.lines.append(line)
        except DeviceError as e:
            self.error = str(e)

    def __exit__(self, *exc: object) -> None:
        if self._stream is not None:
            self._stream.close()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def wait_past(self, t: float, bound_s: float) -> None:
        """Until a reading stamped after boot-clock time ``t`` arrived (the last window's edge is
        then inside the samples), or ``bound_s`` passed."""
        deadline = time.monotonic() + bound_s
        while time.monotonic() < deadline and (self._thread is not None and self._thread.is_alive()):
            if any(sample.t >= t for sample in self.samples()):
                return
            time.sleep(SAMPLE_PERIOD_S / 2)

    def samples(self) -> list[Sample]:
        return parse_stream(list(self.lines), self.source)
