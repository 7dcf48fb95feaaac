"""host check: verdicts on repeats (regressed, no regression, inconclusive), paired accuracy,
warnings, the exit status, and the JUnit, Markdown and JSON outputs."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from dataclasses import replace

import numpy as np
import pytest

from host.cli import main
from host.gate.options import Thresholds
from host.gate.output import as_json, markdown
from host.gate.stats import INCONCLUSIVE, NO_REGRESSION, REGRESSED
from host.gate.verdicts import compare
from host.results import Fingerprint, run_json
from host.store import ResultsStore
from tests.records import cell as _cell
from tests.records import device as _device
from tests.records import run as _run


def _medians(rng: np.random.Generator, center: float, n: int = 10, spread: float = 0.03) -> list[float]:
    """Repeat medians of a cell: run-to-run noise of ``spread`` (relative)."""
    return list(center * (1 + rng.normal(0, spread, n)))


def _latency(base: list[float], current: list[float], limits: Thresholds | None = None, **kw: object):
    verdicts = compare(
        _run("b", [_cell("A", "none", "cpu1", medians=base, **kw)]),
        _run("c", [_cell("A", "none", "cpu1", medians=current)]),
        limits,
    )
    (finding,) = [f for f in verdicts.findings if f.check == "latency"]
    return finding


def test_two_runs_of_the_same_builds_do_not_regress_even_when_their_samples_differ():
    """The issue's A/A case: inside each run thousands of samples, shifted 12% by where the worker
    happened to run; a rank test over samples says p=1e-130. On repeats, it is not a regression."""
    rng = np.random.default_rng(1)
    regressed = 0
    for _ in range(40):
        base, current = _medians(rng, 10.0), _medians(rng, 10.0)
        finding = _latency(base, current)
        regressed += finding.regressed
    assert regressed == 0
    many = _cell("A", "none", "cpu1", samples=tuple(rng.normal(10, 0.2, 3000)), medians=_medians(rng, 10.0))
    shifted = _cell("A", "none", "cpu1", samples=tuple(rng.normal(11.2, 0.2, 3000)), medians=_medians(rng, 10.0))
    verdicts = compare(_run("b", [many]), _run("c", [shifted]))
    assert not any(f.regressed for f in verdicts.findings)


def test_a_slower_build_regresses_with_the_change_and_its_interval():
    rng = np.random.default_rng(2)
    finding = _latency(_medians(rng, 10.0), _medians(rng, 11.5))
    assert finding.verdict == REGRESSED
    decision = finding.decision
    assert decision.low < decision.change < decision.high and 0.10 < decision.change < 0.20
    assert "CI" in finding.detail and "Mann-Whitney" in finding.detail


def test_no_regression_says_the_smallest_slowdown_it_rules_out():
    rng = np.random.default_rng(3)
    finding = _latency(_medians(rng, 10.0, 12, 0.01), _medians(rng, 10.0, 12, 0.01))
    assert finding.verdict == NO_REGRESSION and "ruled out" in finding.detail


def test_a_rise_under_the_floor_is_never_a_regression_however_significant():
    base, current = [10.0 + i * 1e-4 for i in range(12)], [10.15 + i * 1e-4 for i in range(12)]  # +1.5%, p tiny
    assert _latency(base, current, Thresholds(max_latency_increase=0.0)).verdict != REGRESSED
    assert _latency(base, current, Thresholds(max_latency_increase=0.0, min_effect=1.0)).verdict == REGRESSED


def test_few_or_noisy_repeats_are_inconclusive_and_say_what_decides():
    few = _latency([10.0, 10.1, 9.9], [13.0, 13.1, 12.9])
    assert few.verdict == INCONCLUSIVE and "at least 5" in few.detail
    rng = np.random.default_rng(4)
    noisy = _latency(_medians(rng, 10.0, 5, 0.25), _medians(rng, 10.4, 5, 0.25))
    assert noisy.verdict == INCONCLUSIVE and "add repeats" in noisy.detail


def test_throttled_repeats_are_left_out_and_reported():
    rng = np.random.default_rng(5)
    base = _medians(rng, 10.0)
    current = _cell("A", "none", "cpu1", medians=_medians(rng, 10.0), throttled=(19.0, 21.0, 20.0))
    verdicts = compare(_run("b", [_cell("A", "none", "cpu1", medians=base)]), _run("c", [current]))
    (finding,) = [f for f in verdicts.findings if f.check == "latency"]
    assert not finding.regressed and "3 throttled left out" in finding.current and "n=10" in finding.current


def test_accuracy_is_paired_image_by_image_when_outcomes_are_kept():
    rng = np.random.default_rng(6)
    base = rng.random(2000) < 0.9
    worse = base.copy()
    worse[np.flatnonzero(base)[:60]] = False  # 60 images lost, none gained: -3 points
    same_rate = base.copy()  # as many lost as gained: top-1 unchanged, nothing to call
    same_rate[np.flatnonzero(base)[:40]] = False
    same_rate[np.flatnonzero(~base)[:40]] = True
    for current, verdict in ((worse, REGRESSED), (same_rate, NO_REGRESSION)):
        verdicts = compare(
            _run("b", [_cell("A", "none", "cpu1", right=base, top1=float(base.mean()))]),
            _run("c", [_cell("A", "none", "cpu1", right=current, top1=float(current.mean()))]),
        )
        (finding,) = [f for f in verdicts.findings if f.check == "accuracy"]
        assert finding.verdict == verdict and "McNemar" in finding.detail and "paired on 2000 images" in finding.detail


def test_a_small_paired_drop_that_chance_explains_does_not_regress():
    base = np.ones(100, dtype=bool)
    current = base.copy()
    current[:2] = False  # -2 points, over the limit of 1, but 2 of 100 is chance (p=0.25)
    verdicts = compare(
        _run("b", [_cell("A", "none", "cpu1", right=base, top1=1.0)]),
        _run("c", [_cell("A", "none", "cpu1", right=current, top1=0.98)]),
    )
    (finding,) = [f for f in verdicts.findings if f.check == "accuracy"]
    assert finding.verdict == NO_REGRESSION and "2 lost, 0 gained" in finding.detail


def test_without_outcomes_accuracy_compares_the_two_figures():
    verdicts = compare(_run("b", [_cell("A", "none", "cpu1")]), _run("c", [_cell("A", "none", "cpu1", top1=0.875)]))
    (finding,) = [f for f in verdicts.findings if f.check == "accuracy"]
    assert finding.regressed and "unpaired" in finding.detail


def test_a_cell_that_stopped_working_or_vanished_regresses():
    base = _run(
        "b",
        [_cell("A", "none", "cpu1"), _cell("A", "float16", "cpu1"), _cell("A", "none", "gpu", status="unavailable")],
    )
    current = _run("c", [_cell("A", "none", "cpu1", status="failed")])
    status = {(f.mode, f.backend): f for f in compare(base, current).findings if f.check == "status"}
    assert status[("none", "cpu1")].regressed and "failed" in status[("none", "cpu1")].current
    assert status[("float16", "cpu1")].current == "missing" and status[("float16", "cpu1")].regressed
    assert ("none", "gpu") not in status  # it did not work before either


def test_differing_device_fingerprints_and_device_speed_are_warned_about():
    rng = np.random.default_rng(7)
    base = _run(
        "b",
        [_cell("A", "none", "cpu1", medians=_medians(rng, 10.0), reference_ms=5.0)],
        devices=[_device("A", fingerprint=Fingerprint(build="x/y:14/A", kernel="6.1.25"))],
    )
    current = _run(
        "c",
        [_cell("A", "none", "cpu1", medians=_medians(rng, 10.0), reference_ms=6.0)],
        devices=[_device("A", runtime_version="2.16.1", fingerprint=Fingerprint(build="x/y:14/A", kernel="6.1.57"))],
    )
    warnings = compare(base, current).warnings
    assert any("kernel '6.1.25' in b, '6.1.57' in c" in w for w in warnings)
    assert any("fingerprints differ: runtime_version '2.14.0'" in w for w in warnings)
    assert any("+20% slower" in w and "host compare" in w for w in warnings)


def test_json_runs_have_no_repeats_so_latency_is_inconclusive(tmp_path):
    rng = np.random.default_rng(8)
    base = _run("base", [_cell("A", "none", "cpu1", medians=_medians(rng, 10.0))])
    slow = _run("cur", [_cell("A", "none", "cpu1", samples=(3.0, 3.1, 2.9), medians=_medians(rng, 30.0))])
    for run in (base, slow):
        (tmp_path / f"{run.run_id}.json").write_text(json.dumps(run_json(run)))
    argv = ["check", "--baseline", str(tmp_path / "base.json"), "--current", str(tmp_path / "cur.json")]
    assert main(argv) == 0
    assert main([*argv, "--inconclusive", "fail"]) == 1


def test_the_exit_status_and_every_output_file(tmp_path, capsys):
    rng = np.random.default_rng(9)
    store = ResultsStore(tmp_path / "r.sqlite")
    base = _run(
        "base-1",
        [
            _cell("A", "none", "cpu1", medians=_medians(rng, 10.0)),
            _cell("A", "float16", "cpu1", medians=_medians(rng, 10.0)),
        ],
    )
    same = _run(
        "same-2",
        [
            _cell("A", "none", "cpu1", medians=_medians(rng, 10.0)),
            _cell("A", "float16", "cpu1", medians=_medians(rng, 10.0)),
        ],
    )
    slower = _run(
        "slow-3",
        [
            _cell("A", "none", "cpu1", medians=_medians(rng, 12.0)),
            _cell("A", "float16", "cpu1", medians=[10.0, 10.1, 9.9]),
        ],
    )
    for run in (base, same, slower):
        store.create_run(run)
        for cell in run.cells:
            store.save_cell(run.run_id, cell)
            for repeat in cell.repeats:
                store.save_repeat(run.run_id, cell.key, repeat)
    store.close()
    db = ["--db", str(tmp_path / "r.sqlite")]
    assert main(["check", "--baseline", "base", "--current", "same", *db]) == 0
    assert "0 regressed" in capsys.readouterr().out
    outputs = [
        "--junit",
        str(tmp_path / "j.xml"),
        "--markdown",
        str(tmp_path / "pr.md"),
        "--json",
        str(tmp_path / "v.json"),
    ]
    assert main(["check", "--baseline", "base", "--current", "slow", *db, *outputs]) == 1
    out = capsys.readouterr().out
    assert "1 regressed, 1 inconclusive" in out and "does not fail" not in out and "do not fail the gate" in out
    suite = ET.parse(tmp_path / "j.xml").getroot()
    assert suite.get("failures") == "1" and suite.get("skipped") == "1"
    md = (tmp_path / "pr.md").read_text()
    assert md.index(":x: regressed") < md.index(":grey_question: inconclusive")
    data = json.loads((tmp_path / "v.json").read_text())
    assert data["counts"] == {"regressed": 1, "inconclusive": 1, "no regression": 4}
    assert data["findings"][0]["verdict"] == "regressed" and data["findings"][0]["change"] > 0.1
    assert main(["check", "--baseline", "nope", "--current", "slow", *db]) == 2


def test_markdown_and_json_render_every_finding():
    rng = np.random.default_rng(10)
    verdicts = compare(
        _run("b", [_cell("A", "none", "cpu1", medians=_medians(rng, 10.0))]),
        _run("c", [_cell("A", "none", "cpu1", medians=_medians(rng, 10.0))]),
    )
    text = markdown(verdicts)
    assert text.count("\n| A |") == len(verdicts.findings) == len(as_json(verdicts)["findings"])


@pytest.mark.parametrize("words,changed", [("different models", {"model"}), ("different datasets", {"dataset"})])
def test_runs_of_different_models_or_datasets_are_refused_unless_allowed(tmp_path, capsys, words, changed):
    base = _run("base", [_cell("A", "none", "cpu1")])
    other = replace(base, run_id="cur")
    if "model" in changed:
        other = replace(other, model=replace(base.model, name="m2", sha256="f" * 64))
    else:
        other = replace(other, dataset=replace(base.dataset, sha256="e" * 64))
    for run in (base, other):
        (tmp_path / f"{run.run_id}.json").write_text(json.dumps(run_json(run)))
    argv = ["check", "--baseline", str(tmp_path / "base.json"), "--current", str(tmp_path / "cur.json")]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and words in err[0] and "--allow-different-inputs" in err[0]
    assert main([*argv, "--allow-different-inputs"]) == 0
