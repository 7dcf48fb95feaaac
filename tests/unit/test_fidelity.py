"""Every output's agreement with the float reference, and a pick that never ships a drifting build."""

from __future__ import annotations

import json

import numpy as np
import pytest

from device_agent import wire
from device_agent.contract import SNR_CEILING_DB, Fidelity, OutputFidelity
from device_agent.measuring.evaluate import OutputSlot, Scorer, in_name_order, snr_db
from host.quant.pareto import DEFAULT_MIN_SNR_DB, SNR, recommend
from host.report.tables import build_tables, snr_text
from host.results import run_from_json, run_json
from tests import records

BOXES, SCORES = OutputSlot("boxes", 0, 8, False), OutputSlot("scores", 8, 11, True)


def _detector_rows(rng: np.random.Generator, images: int) -> np.ndarray:
    return rng.normal(0, 1, (images, 11)).astype(np.float32)


def test_each_output_gets_its_own_snr_cosine_errors_and_agreement():
    rng = np.random.default_rng(0)
    reference = _detector_rows(rng, 40)
    noise = np.zeros_like(reference)
    noise[:, :8] = rng.normal(0, 0.1, (40, 8))  # boxes drift a little; scores are exact
    scorer = Scorer(np.full(40, -1), (BOXES, SCORES))
    scorer.add(reference[:25] + noise[:25], reference[:25])  # two batches: the sums stream
    scorer.add(reference[25:] + noise[25:], reference[25:])
    fidelity = scorer.fidelity()
    assert fidelity is not None and fidelity.count == 40
    boxes, scores = fidelity.outputs
    expected = 10 * np.log10(
        np.square(reference[:, :8].astype(np.float64)).sum() / np.square(noise[:, :8].astype(np.float64)).sum()
    )
    assert boxes.name == "boxes" and boxes.values == 8 and boxes.snr_db == pytest.approx(expected, rel=1e-6)
    assert boxes.top1_agreement is None, "a regression head has no top-1"
    cosines = [
        np.dot(a, b) / np.linalg.norm(a) / np.linalg.norm(b)
        for a, b in zip(reference[:, :8] + noise[:, :8], reference[:, :8], strict=True)
    ]
    assert boxes.cosine == pytest.approx(np.mean(cosines), rel=1e-6)
    assert boxes.max_abs_error == pytest.approx(np.abs(noise[:, :8]).max(), rel=1e-6)
    assert scores.snr_db == SNR_CEILING_DB and scores.top1_agreement == 1.0 and scores.max_abs_error == 0.0
    assert fidelity.snr_db == boxes.snr_db, "the headline is the worst output"
    assert fidelity.mean_abs_error == pytest.approx(np.abs(noise).mean(), rel=1e-6)


def test_the_top1_agreement_of_a_classifier_output_counts_images_whose_argmax_moved():
    reference = np.array([[0.9, 0.1, 0.0], [0.2, 0.7, 0.1], [0.3, 0.3, 0.4]], dtype=np.float32)
    moved = reference.copy()
    moved[2] = [0.5, 0.3, 0.2]
    scorer = Scorer(np.full(3, -1), (OutputSlot("probs", 0, 3, True),))
    scorer.add(moved, reference)
    fidelity = scorer.fidelity()
    assert fidelity is not None and fidelity.top1_agreement == pytest.approx(2 / 3)


def test_snr_is_held_inside_the_ceiling_and_says_identical_there():
    assert snr_db(1.0, 0.0) == SNR_CEILING_DB and snr_db(0.0, 1.0) == -SNR_CEILING_DB
    assert snr_db(100.0, 1.0) == pytest.approx(20.0)
    assert snr_text(SNR_CEILING_DB) == "identical" and snr_text(31.25) == "31.2 dB" and snr_text(None) == "n/a"


def test_outputs_line_up_by_name_whichever_order_an_engine_lists_them():
    interpreter = [{"name": "scores", "index": 7}, {"name": "boxes", "index": 5}]
    compiled = [{"name": "boxes", "index": 1000}, {"name": "scores", "index": 1001}]
    assert (
        [d["name"] for d in in_name_order(interpreter)]
        == [d["name"] for d in in_name_order(compiled)]
        == ["boxes", "scores"]
    )
    unnamed = [{"name": "", "index": 2}, {"name": "", "index": 1}]
    assert in_name_order(unnamed) == unnamed, "without names the model's own order stands"


def test_an_agreement_that_does_not_apply_stays_absent_on_the_wire():
    fidelity = Fidelity(
        None,
        0.1,
        0.2,
        3,
        12.5,
        (OutputFidelity("mask", 512, 12.5, 0.9, 0.1, 0.2), OutputFidelity("probs", 4, 40.0, 1.0, 0.0, 0.0, 0.75)),
    )
    back = wire.from_message(wire.to_message(fidelity), Fidelity)
    assert back == fidelity and back.top1_agreement is None and back.outputs[1].top1_agreement == 0.75


def _unlabelled_run():
    """A detector without labels: the fastest build's scores drifted (12 dB), one more is fine."""
    cells = [
        records.cell("A", "none", "cpu1", samples=(2.0,) * 5, top1=None, size=4_000_000),
        records.cell("A", "integer", "cpu1", samples=(0.5,) * 5, top1=None, size=1_000_000, snr=(31.0, 12.0)),
        records.cell("A", "dynamic_range", "cpu1", samples=(1.0,) * 5, top1=None, size=1_100_000, snr=(41.0, 36.0)),
    ]
    return records.run(
        "u", cells, modes=("none", "integer", "dynamic_range"), backends=("cpu1",), devices=[records.device("A")]
    )


def test_an_unlabelled_pick_weighs_fidelity_and_never_ships_a_build_under_the_floor():
    chosen = recommend(_unlabelled_run())
    assert chosen.metric == SNR and chosen.pick is not None and chosen.pick.mode == "dynamic_range"
    assert f"SNR >= {DEFAULT_MIN_SNR_DB:g} dB" in chosen.reason and "worst-output SNR 36.0 dB" in chosen.reason
    assert "never picked: integer on cpu1" in chosen.reason
    assert chosen.excluded["integer on cpu1"].startswith("SNR 12.0 dB (scores) < 30 dB")
    assert [b.mode for b in chosen.front] == ["dynamic_range", "none"], "a drifting build is not on the front either"
    # the floor is what decided: without it the damaged build is the fastest and would ship
    assert recommend(_unlabelled_run(), min_snr=10).pick.mode == "integer"  # type: ignore[union-attr]


def test_with_labels_the_floor_is_one_point_under_the_float_builds_top1():
    cells = [
        records.cell("A", "none", "cpu1", samples=(2.0,) * 5, top1=0.80),
        records.cell("A", "lucky", "cpu1", samples=(1.5,) * 5, top1=0.85, size=900),
        records.cell("A", "integer", "cpu1", samples=(0.5,) * 5, top1=0.795, size=500),
    ]
    run = records.run("l", cells, modes=("none", "lucky", "integer"), backends=("cpu1",), devices=[records.device("A")])
    chosen = recommend(run)
    assert chosen.pick is not None and chosen.pick.mode == "integer", chosen.reason
    assert "within 1 point of the float build's top-1 (80.0%)" in chosen.reason


def test_per_output_figures_survive_the_json_contract_and_the_grid_names_the_worst_output():
    run = _unlabelled_run()
    data = json.loads(json.dumps(run_json(run)))
    fidelity = next(c["fidelity"] for c in data["cells"] if c["mode"] == "integer")
    assert fidelity["snr_db"] == 12.0 and [o["name"] for o in fidelity["outputs"]] == ["boxes", "scores"]
    assert fidelity["top1_agreement"] is None
    back, measured = run_from_json(data, "run.json").cells[1].result.fidelity, run.cells[1].result.fidelity
    assert (
        back is not None and measured is not None and (back.outputs, back.snr_db) == (measured.outputs, measured.snr_db)
    )
    grid = next(t for t in build_tables(run)[0].tables if t.title.startswith("Fidelity"))
    assert dict((row[0], row[1]) for row in grid.rows)["integer"] == "12.0 dB (scores)"


def test_a_result_stored_before_outputs_were_compared_still_reads_and_shows():
    old = {"top1_agreement": 0.95, "mean_abs_error": 0.01, "max_abs_error": 0.2}
    data = json.loads(json.dumps(run_json(_unlabelled_run())))
    data["cells"][1]["fidelity"] = old
    run = run_from_json(data, "old.json")
    assert run.cells[1].result.fidelity.snr_db is None  # type: ignore[union-attr]
    grid = next(t for t in build_tables(run)[0].tables if t.title.startswith("Fidelity"))
    assert dict((row[0], row[1]) for row in grid.rows)["integer"] == "95.0% / 0.0100"


def test_a_few_slow_outliers_do_not_make_a_three_times_faster_build_a_tie():
    """One repeat each on a busy machine: the fast build's samples carry spikes (std far above its
    p50), but its median is certain; it is 3x faster and must be picked, not tied away."""
    spiky = (0.14,) * 45 + (3.0, 4.0, 5.0, 3.5, 4.5)
    cells = [
        records.cell("A", "none", "cpu1", samples=(0.43,) * 50, top1=0.996, size=650_000),
        records.cell("A", "a8w8", "cpu1", samples=spiky, top1=0.996, size=300_000),
        records.cell("A", "dynamic_wi4", "cpu1", samples=(0.43,) * 50, top1=0.998, size=170_000),
    ]
    run = records.run(
        "o", cells, modes=("none", "a8w8", "dynamic_wi4"), backends=("cpu1",), devices=[records.device("A")]
    )
    chosen = recommend(run)
    assert chosen.pick is not None and chosen.pick.mode == "a8w8", chosen.reason
