"""The console while a run goes: one line per finished cell, each unavailable reason once."""

from __future__ import annotations

import io
from dataclasses import replace

from rich.console import Console

from host.convert.records import ModeResult
from host.report.progress import ProgressListener
from host.report.tables import device_tables
from tests.records import cell, run


def test_a_reason_is_printed_once_and_numbered_as_the_tables_number_it():
    out = io.StringIO()
    listener = ProgressListener(Console(file=out, width=200))
    listener.mode_started("none", 0, 2)
    listener.mode_done(ModeResult("none", True, size_bytes=655404, cached=True))
    listener.mode_started("integer", 1, 2)
    listener.mode_done(ModeResult("integer", False, error="needs calibration"))
    listener.matrix(4, 0)
    reason = "emulated device: no GPU delegate library (libtensorflowlite_gpu_delegate.so: cannot open)"
    done = (
        cell("D", "none", "cpu1"),
        cell("D", "float16", "cpu1", status="failed"),
        cell("D", "none", "gpu", status="unavailable", error=reason),
        cell("D", "float16", "gpu", status="unavailable", error=reason),
    )
    done = tuple(replace(c, finished=f"2026-12-01T00:00:0{i}+00:00") for i, c in enumerate(done))
    for c in done:
        listener.cell_done(c)
    text = out.getvalue()
    assert text.count(reason) == 1
    assert "[4/4] float16/gpu: unavailable [2]" in text and "[3/4] none/gpu: unavailable [2]: emulated device" in text
    assert "[1/4] none/cpu1: ok, p50 1.000 ms, top-1 90.0%" in text and "[2/4] float16/cpu1: failed [1]: boom" in text
    tables = device_tables(replace(run("r"), cells=done, modes=("none", "float16"), backends=("cpu1", "gpu")), "D")
    assert tables.footnotes == ("boom", reason), "the tables number the reasons as the progress lines did"
    summary, accuracy = tables.chosen(("summary",))[0], tables.chosen(("accuracy",))[0]
    assert accuracy.header == ("mode", "cpu1") and accuracy.rows[1][1] == "failed [1]"
    assert summary.rows[1][-1] == "failed [1]" and summary.rows[0][0] == "none" and summary.rows[0][2] == "1.00x"
    assert tables.folded == ("gpu: unavailable for every build [2]",), "a column unavailable throughout is one line"
    assert "none: cached, 655,404 bytes" in text and "integer: conversion failed after" in text
