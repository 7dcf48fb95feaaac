"""The console while a run goes: one line per finished cell, each unavailable reason once."""

from __future__ import annotations

import io

from rich.console import Console

from host.convert.converter import ModeResult
from host.report.progress import ProgressListener
from tests.records import cell


def test_an_unavailable_reason_is_printed_once_per_run_and_referred_to_after():
    out = io.StringIO()
    listener = ProgressListener(Console(file=out, width=200))
    listener.mode_started("none", 0, 2)
    listener.mode_done(ModeResult("none", True, size_bytes=655404, cached=True))
    listener.mode_started("integer", 1, 2)
    listener.mode_done(ModeResult("integer", False, error="needs calibration"))
    listener.matrix(4, 0)
    reason = "emulated device: no GPU delegate library (libtensorflowlite_gpu_delegate.so: cannot open)"
    for c in (cell("D", "none", "cpu1"), cell("D", "none", "gpu", status="unavailable", error=reason),
              cell("D", "float16", "gpu", status="unavailable", error=reason), cell("D", "float16", "cpu1", status="failed")):
        listener.cell_done(c)
    text = out.getvalue()
    assert text.count(reason) == 1
    assert "[3/4] float16/gpu: unavailable [1]" in text and "[2/4] none/gpu: unavailable [1]: emulated device" in text
    assert "[1/4] none/cpu1: ok, p50 1.000 ms, top-1 90.0%" in text and "[4/4] float16/cpu1: failed: boom" in text
    assert "none: cached, 655,404 bytes" in text and "integer: conversion failed after" in text
