"""``host tune`` on the emulated device, on a model whose sensitive pair is known by construction
(``tests/builders.outlier_model``): singles gain nothing, the producer+consumer pair recovers the
float accuracy; the search must find exactly that pair, store every candidate, resume, and hand
over a build folder that ``host bench`` and ``host recommend`` take like any other."""

from __future__ import annotations

import json
import re

import pytest

from host.cli import main
from host.store import ResultsStore
from tests.adb_fixtures import isolated_host
from tests.builders import OUTLIER_CONSUMER, OUTLIER_PRODUCER, outlier_workspace

FAST = ["--min-runs", "10", "--min-seconds", "0.05", "--warmup-seconds", "0.01"]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    root = outlier_workspace(tmp_path_factory.mktemp("tune"))
    with isolated_host(root):
        yield root


def _tune(lab, *extra: str) -> int:
    return main(
        [
            "tune",
            str(lab / "outlier.keras"),
            "--calibration",
            str(lab / "calibration"),
            "--dataset",
            str(lab / "eval"),
            "--preset",
            "mobilenet",
            "--max-accuracy-drop",
            "5",
            "--candidates",
            "3",
            "--out",
            str(lab / "tuned"),
            "--db",
            str(lab / "results.sqlite"),
            *extra,
        ]
    )


@pytest.fixture(scope="module")
def tuned(lab):
    assert _tune(lab) == 0
    return json.loads((lab / "tuned" / "tune.json").read_text())


def test_tune_keeps_exactly_the_pair_in_float_and_meets_the_target_on_the_device(lab, tuned, capsys):
    candidates = tuned["candidates"]
    by_name = {c["name"]: c for c in candidates.values()}
    assert by_name["none"]["top1"] == 100.0  # labels are the float model's own answers
    assert by_name["integer"]["top1"] < 60.0
    singles = [c for c in candidates.values() if c["step"] == "single"]
    assert {c["layers"][0] for c in singles} >= {OUTLIER_PRODUCER, OUTLIER_CONSUMER}
    assert all(c["top1"] < 95.0 for c in singles), "no single fallback reaches the target: the search must go on"
    assert tuned["met"] and tuned["target"] == 95.0
    chosen = by_name[tuned["chosen"]]
    assert sorted(chosen["layers"]) == sorted([OUTLIER_PRODUCER, OUTLIER_CONSUMER]) and chosen["top1"] >= 95.0
    manifest = json.loads((lab / "tuned" / "manifest.json").read_text())
    variant = manifest["modes"]["integer+keep2"]
    assert variant["variant_of"] == "integer" and sorted(variant["float_layers"]) == sorted(
        [OUTLIER_PRODUCER, OUTLIER_CONSUMER]
    )
    assert set(manifest["modes"]) == {"none", "integer", "integer+keep2"}
    # every candidate is stored as a measured cell with its accuracy, latency and size
    store = ResultsStore(lab / "results.sqlite", read_only=True)
    try:
        cells = {
            c.mode: c for run_id in {c["run_id"] for c in candidates.values()} for c in store.load_run(run_id).cells
        }
    finally:
        store.close()
    for candidate in candidates.values():
        cell = cells[candidate["name"]]
        assert cell.ok and cell.result.latency and cell.size_bytes == candidate["size_bytes"]
        assert round(100 * cell.result.accuracy.top1, 3) == candidate["top1"]


def test_a_second_tune_measures_nothing_again(lab, tuned, capsys):
    before = json.loads((lab / "tuned" / "tune.json").read_text())
    assert _tune(lab) == 0
    after = json.loads((lab / "tuned" / "tune.json").read_text())
    assert {k: c["run_id"] for k, c in after["candidates"].items()} == {
        k: c["run_id"] for k, c in before["candidates"].items()
    }
    said = " ".join(capsys.readouterr().out.split())  # the console wraps at its width
    assert "0.0 min of device time" in said
    # each suspect's price on the device before tuning, from the integer build's stored per-op profile
    assert re.search(rf"{OUTLIER_PRODUCER}: \d+% signal lost, \d+% of cpu1 time", said), said


def test_debug_on_the_device_prints_each_suspects_share_of_the_device_time(lab, capsys):
    assert (
        main(
            [
                "debug",
                str(lab / "outlier.keras"),
                "--calibration",
                str(lab / "calibration"),
                "--preset",
                "mobilenet",
                "--device-time",
                "--db",
                str(lab / "results.sqlite"),
            ]
        )
        == 0
    )
    said = " ".join(capsys.readouterr().out.split())
    assert "cpu1 time" in said
    share = re.search(rf"suspect \d+: {OUTLIER_PRODUCER} \([^)]*\): (?:(?!suspect).)*?; (\d+)% of cpu1 time", said)
    assert share and 0 <= int(share.group(1)) <= 100, said


def test_the_tuned_folder_is_benched_like_any_build_and_recommended(lab, tuned, capsys):
    out = lab / "bench.json"
    assert (
        main(
            [
                "bench",
                "--model",
                str(lab / "tuned"),
                "--backends",
                "cpu1",
                "--dataset",
                str(lab / "eval"),
                "--preset",
                "mobilenet",
                "--db",
                str(lab / "results.sqlite"),
                "--json",
                str(out),
                *FAST,
            ]
        )
        == 0
    )
    top1 = {c["mode"]: c["accuracy"]["top1"] for c in json.loads(out.read_text())["cells"]}
    assert set(top1) == {"none", "integer", "integer+keep2"} and top1["integer+keep2"] >= 0.95 > top1["integer"]
    capsys.readouterr()
    assert main(["recommend", "--db", str(lab / "results.sqlite"), "--min-accuracy", "95"]) == 0
    printed = " ".join(capsys.readouterr().out.split())
    assert "recommended: " in printed and "recommended: integer on" not in printed
    assert main(["recommend", "--db", str(lab / "results.sqlite"), "--max-size", "0.001"]) == 1
    assert "no build meets the limits" in " ".join(capsys.readouterr().out.split())


def test_a_spent_budget_stops_the_search_and_says_so(lab, tmp_path, capsys):
    code = main(
        [
            "tune",
            str(lab / "outlier.keras"),
            "--calibration",
            str(lab / "calibration"),
            "--dataset",
            str(lab / "eval"),
            "--preset",
            "mobilenet",
            "--max-accuracy-drop",
            "5",
            "--candidates",
            "2",
            "--budget",
            "0.1",
            "--out",
            str(tmp_path / "tight"),
            "--db",
            str(lab / "results.sqlite"),
        ]
    )
    state = json.loads((tmp_path / "tight" / "tune.json").read_text())
    # the two worst are mix and classes (not a producer/consumer pair): the first round cannot meet
    # the target, and 6 s of device time are gone before the cumulative step may start
    assert not state["met"] and code == 1
    assert state["stopped"] == "budget spent before the target was met"
    assert "target NOT met" in " ".join(capsys.readouterr().out.split())


def test_precisions_keep_the_tolerant_layer_at_int4_and_raise_only_the_sensitive_one(lab, capsys):
    """``tests/builders.precision_workspace``: a float .tflite whose first layer is exact at int4
    and whose second loses 14 points there; on the device the tune must pick int4 for the first,
    int8 for the second, and hand over a folder and a recipe file that work."""
    from tests.builders import precision_workspace

    root = precision_workspace(lab / "precision")
    out = root / "tuned"
    argv = [
        "tune",
        str(root / "precision.tflite"),
        "--precisions",
        "float,int8,int4",
        "--dataset",
        str(root / "eval"),
        "--max-accuracy-drop",
        "5",
        "--out",
        str(out),
        "--db",
        str(lab / "results.sqlite"),
    ]
    assert main(argv) == 0
    state = json.loads((out / "tune.json").read_text())
    (first, low), (second, high) = sorted(state["layers"], key=lambda pair: pair[1])
    assert (low, high) == ("int4", "int8") and first.startswith("MatMul;") and second.startswith("MatMul_1")
    plans = {p["name"]: p for p in state["plans"].values()}
    assert plans["all_int4"]["top1"] < 95 <= plans[state["chosen"]]["top1"], plans
    assert re.search(r"1 layer\(s\)\s+int4,\s+1\s+layer\(s\)\s+int8", capsys.readouterr().out)
    recipe = out / "tuned_precisions_recipe.json"
    assert (
        main(
            [
                "convert",
                str(root / "precision.tflite"),
                "--modes",
                "none",
                "--recipe",
                str(recipe),
                "--out",
                str(root / "again"),
            ]
        )
        == 0
    )
    again = (root / "again" / "tuned_precisions_recipe.tflite").read_bytes()
    assert again == (out / "tuned_precisions.tflite").read_bytes(), "the recipe file rebuilds the tuned build"
    assert main(["tune", *argv[1:]]) == 0  # a second run measures nothing again
    assert "measuring on the device" not in capsys.readouterr().out
