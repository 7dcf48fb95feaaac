"""host check: every regression rule, the significance test, JSON and database inputs, JUnit XML."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import numpy as np
import pytest

from host.cli import main
from host.regress import Thresholds, compare, mann_whitney_greater
from host.results import run_json
from host.store import ResultsStore
from tests.records import cell as _cell
from tests.records import run as _run


def test_mann_whitney_matches_scipy():
    stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(0)
    for shift in (0.0, 0.05, 0.3):
        a, b = rng.normal(1 + shift, 0.1, 60).round(2), rng.normal(1, 0.1, 50).round(2)  # rounding makes ties
        expected = stats.mannwhitneyu(a, b, alternative="greater", use_continuity=True, method="asymptotic").pvalue
        assert mann_whitney_greater(a, b) == pytest.approx(expected, rel=1e-6)


def test_each_rule():
    base = _run("base", [_cell("A", "none", "cpu1"), _cell("A", "none", "cpu4"), _cell("A", "float16", "cpu1"),
                         _cell("A", "float16", "cpu4"), _cell("A", "none", "gpu", status="unavailable")])
    slow = [s * 1.5 for s in (1.0, 1.1, 0.9, 1.0, 1.2) * 6]
    current = _run("cur", [
        _cell("B", "none", "cpu1", samples=slow),                       # 50% slower, clearly: regression
        _cell("B", "none", "cpu4", samples=(1.0, 1.3, 0.9, 1.0, 1.2)),  # p50 +0% : ok
        _cell("B", "float16", "cpu1", top1=0.875),                      # -2.5 points: regression
        _cell("B", "float16", "cpu4", status="failed"),                 # ok -> failed: regression
        _cell("B", "none", "gpu", status="unavailable"),                # was not ok: not compared
    ])
    findings = {(f.mode, f.backend, f.check): f for f in compare(base, current)}
    assert findings[("none", "cpu1", "latency")].regressed and "Mann-Whitney" in findings[("none", "cpu1", "latency")].detail
    assert not findings[("none", "cpu4", "latency")].regressed
    assert findings[("float16", "cpu1", "accuracy")].regressed
    assert findings[("float16", "cpu4", "status")].regressed
    assert ("none", "gpu", "status") not in findings
    assert not findings[("none", "cpu1", "accuracy")].regressed


def test_a_median_rise_that_is_only_noise_does_not_fail_the_release():
    base = _run("base", [_cell("A", "none", "cpu1", samples=(1, 2, 3, 4, 5))])
    noisy = _run("cur", [_cell("A", "none", "cpu1", samples=(1, 2, 3.5, 4, 5))])  # p50 +16.7%, same spread
    (finding,) = [f for f in compare(base, noisy) if f.check == "latency"]
    assert not finding.regressed and "not significant" in finding.detail
    assert [f for f in compare(base, noisy, Thresholds(alpha=0.9)) if f.check == "latency"][0].regressed


def test_missing_cells_regress():
    findings = compare(_run("b", [_cell("A", "none", "cpu1")]), _run("c", [_cell("A", "float16", "cpu1")]))
    assert [(f.mode, f.current, f.regressed) for f in findings] == [("none", "missing", True)]


def test_cli_with_json_files_and_junit(tmp_path, capsys):
    base = _run("base", [_cell("A", "none", "cpu1"), _cell("A", "float16", "cpu1")])
    worse = _run("cur", [_cell("A", "none", "cpu1", samples=(2.0, 2.2, 1.8, 2.0, 2.4)), _cell("A", "float16", "cpu1")])
    for run in (base, worse):
        (tmp_path / f"{run.run_id}.json").write_text(json.dumps(run_json(run)))
    argv = ["check", "--baseline", str(tmp_path / "base.json"), "--current", str(tmp_path / "cur.json"), "--junit", str(tmp_path / "j.xml")]
    assert main(argv) == 1
    assert "1 regression(s)" in capsys.readouterr().out
    suite = ET.parse(tmp_path / "j.xml").getroot()
    assert suite.get("failures") == "1" and int(suite.get("tests")) >= 4
    assert main(["check", "--baseline", str(tmp_path / "base.json"), "--current", str(tmp_path / "base.json")]) == 0


def test_cli_with_stored_runs_uses_raw_samples(tmp_path, capsys):
    store = ResultsStore(tmp_path / "r.sqlite")
    for run in (_run("base-1", [_cell("A", "none", "cpu1", samples=(1, 2, 3, 4, 5))]),
                _run("cur-2", [_cell("A", "none", "cpu1", samples=(1, 2, 3.5, 4, 5))])):
        store.create_run(run)
        for cell in run.cells:
            store.save_cell(run.run_id, cell)
    store.close()
    assert main(["check", "--baseline", "base", "--current", "cur", "--db", str(tmp_path / "r.sqlite")]) == 0
    assert "not significant" in capsys.readouterr().out
    assert main(["check", "--baseline", "nope", "--current", "cur", "--db", str(tmp_path / "r.sqlite")]) == 2


def test_runs_of_different_models_or_datasets_are_refused_unless_allowed(tmp_path, capsys):
    from dataclasses import replace

    base = _run("base", [_cell("A", "none", "cpu1")])
    other_model = replace(base, run_id="cur", model=replace(base.model, name="m2", sha256="f" * 64))
    other_data = replace(base, run_id="cur2", dataset=replace(base.dataset, sha256="e" * 64))
    for run in (base, other_model, other_data):
        (tmp_path / f"{run.run_id}.json").write_text(json.dumps(run_json(run)))
    for name, words in (("cur", "different models"), ("cur2", "different datasets")):
        argv = ["check", "--baseline", str(tmp_path / "base.json"), "--current", str(tmp_path / f"{name}.json")]
        assert main(argv) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and words in err[0] and "--allow-different-inputs" in err[0]
        assert main([*argv, "--allow-different-inputs"]) == 0
        capsys.readouterr()
