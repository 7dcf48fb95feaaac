"""The memory footprint's two ways of finding the peak: the kernel's restarted high-water mark,
and the sampling thread where the kernel will not restart it."""

from __future__ import annotations

import threading

import pytest

from device_agent.measuring import footprint
from device_agent.measuring.footprint import KERNEL, SAMPLED, Footprint


def _grow_and_free(mb: int) -> None:
    block = bytearray(mb * 2**20)
    block[::4096] = b"x" * len(block[::4096])  # touch every page: resident, not just reserved
    del block


def test_the_kernel_peak_sees_memory_freed_before_it_is_read():
    if not footprint.restart_high_water_mark():
        pytest.skip("this kernel will not restart its high-water mark; the sampler's test covers the fallback")
    measured = Footprint()
    measured.start()
    _grow_and_free(64)
    measured.mark_init()
    memory = measured.memory()
    assert memory.peak_source == KERNEL
    assert memory.delta(memory.peak_rss_mb) > 50, memory


def test_where_the_kernel_refuses_a_thread_samples_the_peak(monkeypatch):
    monkeypatch.setattr(footprint, "restart_high_water_mark", lambda: False)
    measured = Footprint()
    measured.start()
    sampled = threading.Event()
    real = footprint.read_memory_mb

    def watched() -> tuple[float, float]:
        sampled.set()
        return real()

    monkeypatch.setattr(footprint, "read_memory_mb", watched)
    block = bytearray(64 * 2**20)
    block[::4096] = b"x" * len(block[::4096])
    sampled.clear()
    assert sampled.wait(5.0), "the sampler never read the RSS"
    sampled.clear()
    assert sampled.wait(5.0)  # a read that began after the block was resident
    del block
    memory = measured.memory()
    assert memory.peak_source == SAMPLED and memory.delta(memory.peak_rss_mb) > 50, memory
