"""The console leads with the answer: one summary table, an always-unavailable backend folded
into one line, the fingerprint in one line; every other table only when asked for."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from host.bench.views import TABLE_NAMES, parse_tables
from host.report.console import print_run
from tests.records import cell, run

NNAPI = "nnapi: this device has no NNAPI (emulated; Android's NNAPI is deprecated from Android 15)"


def _run():
    cells = []
    for mode, size in (("none", 14_000_000), ("integer", 3_900_000)):
        for backend in ("cpu1", "cpu4", "nnapi"):
            status = "unavailable" if backend == "nnapi" else "ok"
            cells.append(
                cell("A", mode, backend, top1=0.7 if mode == "none" else 0.69, status=status, error=NNAPI, size=size)
            )
    return run("r1", cells=tuple(cells), modes=("none", "integer"), backends=("cpu1", "cpu4", "nnapi"))


def _printed(tables: tuple[str, ...]) -> str:
    out = io.StringIO()
    print_run(_run(), Console(file=out, width=200), tables=tables)
    return out.getvalue()


def test_the_default_view_is_the_summary_with_the_unavailable_backend_in_one_line():
    text = _printed(parse_tables("summary"))
    assert "Summary" in text and "p50 cpu1 (ms)" in text and "p50 cpu4 (ms)" in text
    assert "14.00 MB" in text and "3.90 MB" in text and "0.28x" in text
    assert "nnapi: unavailable for every build [1]" in text and f"[1] {NNAPI}" in text
    assert "p50 nnapi" not in text and "unavailable [1]" not in text.replace("unavailable for every build [1]", "")
    assert "Model size" not in text and "Memory (MB)" not in text, "the other tables wait for --tables"
    assert "--tables all" in text


def test_tables_all_prints_every_table_and_named_ones_print_alone():
    everything = _printed(parse_tables("all"))
    for title in (
        "Summary",
        "Model size",
        "Accuracy top-1 / top-3",
        "Latency p50",
        "Fidelity",
        "Delegation",
        "Memory",
        "Start",
    ):
        assert title in everything
    latency_only = _printed(parse_tables("latency"))
    assert "Latency p50" in latency_only and "Summary" not in latency_only


@pytest.mark.parametrize("text", ["", "summary,,size", "sizes", "all,size"])
def test_an_unknown_table_is_refused_by_name(text):
    with pytest.raises(ValueError, match="unknown table"):
        parse_tables(text)
    assert parse_tables("size, latency") == ("size", "latency") and parse_tables("all") == TABLE_NAMES


def test_a_reason_of_many_lines_is_one_console_line_and_whole_in_the_json():
    from host.report.tables import CONSOLE_REASON, Footnotes, console_reason

    loader = "Encountered unresolved custom op: X.\n" + "".join(
        f"Node number {i} (X) failed to prepare.\n" for i in range(40)
    )
    notes = Footnotes()
    notes.number(cell("A", "none", "cpu1", status="failed", error=loader))
    (reason,) = notes.reasons
    assert "\n" not in reason and reason.endswith("Node number 39 (X) failed to prepare."), "kept whole for the reports"
    shown = console_reason(reason)
    assert len(shown) < CONSOLE_REASON + 40 and shown.endswith("(whole in the run's JSON)")


def test_a_backend_unavailable_with_a_reason_of_several_lines_is_folded_under_its_number():
    """Footnotes keep a reason as one line; the folded backend is numbered by that same footnote."""
    from host.report.tables import device_tables

    reason = "no NNAPI here:\n  the delegate library  is missing"
    cells = [
        cell("A", m, b, status="unavailable" if b == "nnapi" else "ok", error=reason)
        for m in ("none", "integer")
        for b in ("cpu1", "nnapi")
    ]
    tables = device_tables(run("r2", cells=tuple(cells), modes=("none", "integer"), backends=("cpu1", "nnapi")), "A")
    assert tables.folded == ("nnapi: unavailable for every build [1]",)
    assert tables.footnotes == ("no NNAPI here: the delegate library is missing",)
