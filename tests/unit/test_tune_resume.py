"""An interrupted ``host tune`` keeps each candidate as its cell lands, and says how to go on."""

from __future__ import annotations

import json
import shlex
from types import SimpleNamespace

import pytest

from host.cli import build_parser
from host.errors import BenchInterrupted
from host.params import from_namespace
from host.quant.options import TuneOptions
from host.quant.precisions import Plan, PrecisionSearch
from host.quant.resumable import PENDING_RUN, STATE_FILE
from host.quant.tune import Candidate, _Search
from host.quant.tune_resume import resume_command
from host.store.location import locate
from tests import records


def _search(tmp_path, measure) -> _Search:
    options = from_namespace(TuneOptions, build_parser().parse_args(["tune", "m.keras", "--out", str(tmp_path / "t")]))
    inputs = SimpleNamespace(calibrated=SimpleNamespace(ops=[]), source=SimpleNamespace(name="m"))
    search = _Search(options, inputs, measure, {"model": "sha"}, lambda text: None)
    for name in ("none", "integer", "keep:a"):  # as candidate() makes them, unless tune.json already has them
        search.by_key.setdefault(name, Candidate(name, (name,) if name == "keep:a" else (), (), "single"))
    return search


def test_each_finished_candidate_is_kept_before_the_batch_ends_and_not_measured_again(tmp_path):
    asked = []

    def interrupted(folder, finished):
        asked.append("first")
        finished(records.cell("A", "none", "cpu1", top1=0.9))
        finished(records.cell("A", "integer", "cpu1", top1=0.5))
        raise BenchInterrupted("interrupted")

    first = _search(tmp_path, interrupted)
    with pytest.raises(BenchInterrupted):
        first.measure(list(first.by_key.values()))
    kept = json.loads((tmp_path / "t" / STATE_FILE).read_text())["candidates"]
    assert kept["none"]["top1"] == 90.0 and kept["none"]["run_id"] == PENDING_RUN
    assert kept["integer"]["top1"] == 50.0 and kept["keep:a"]["top1"] is None

    def rest(folder, finished):
        manifest = json.loads((folder / "manifest.json").read_text())
        asked.append(sorted(manifest["modes"]))
        return records.run("r2", [records.cell("A", "keep:a", "cpu1", top1=0.8)])

    again = _search(tmp_path, rest)  # a fresh tune: it reads tune.json
    again.measure(list(again.by_key.values()))
    assert asked == ["first", ["keep:a"]], "only the candidate the interrupted run did not finish is measured again"


def test_the_resume_command_is_the_same_tune():
    argv = [
        "tune",
        "my model.keras",
        "--out",
        "out dir",
        "--max-accuracy-drop",
        "0.5",
        "--device",
        "A",
        "--device",
        "B",
        "--backend",
        "cpu4",
        "--limit",
        "200",
    ]
    options = from_namespace(TuneOptions, build_parser().parse_args(argv))
    command = resume_command(options, locate("postgresql://lab@db.example/bench", from_command_line=False))
    words = shlex.split(command)
    assert words[:2] == ["host", "tune"] and "--db" in words
    again = from_namespace(TuneOptions, build_parser().parse_args(words[1:]))
    assert again == TuneOptions(**{**options.__dict__, "db": again.db})


def _plans(tmp_path, measure) -> PrecisionSearch:
    search = PrecisionSearch(b"float", "int8", tmp_path / "p", measure, {"model": "sha"}, 60.0, lambda text: None)
    for name in ("none", "integer", "keep:a"):
        search.by_key.setdefault(name, Plan(name, {}, "raise"))
    return search


@pytest.mark.parametrize("make", [_search, _plans], ids=["float layers", "precisions"])
def test_both_searches_leave_a_missing_cell_unmeasured_and_keep_a_failed_one_with_its_error(tmp_path, make):
    """One policy: a cell the run did not return is measured again next time; a failed cell is a
    measured candidate with the device's reason."""

    def partial(folder, finished):
        return records.run(
            "r1",
            [
                records.cell("A", "none", "cpu1", top1=0.9),
                records.cell("A", "integer", "cpu1", status="failed", error="worker crashed"),
            ],
        )

    search = make(tmp_path, partial)
    search.measure(list(search.by_key.values()), *(("cpu1",) if isinstance(search, PrecisionSearch) else ()))
    by_name = {c.name: c for c in search.by_key.values()}
    assert by_name["none"].measured and by_name["none"].top1 == 90.0
    assert by_name["integer"].measured and by_name["integer"].error == "worker crashed"
    assert not by_name["keep:a"].measured and by_name["keep:a"].error == "", "missing: measured again next time"
