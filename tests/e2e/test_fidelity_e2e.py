"""Fidelity of every output on the emulated device, and a pick that never ships a drifting build.

A two-output model (a per-pixel head and a regression head) converts into every mode that applies
and benches without labels; each cell reports both outputs by tensor name, lined up with the
reference whichever engine ran it. A build folder whose fastest build is a different, lighter
network (its outputs far from the float build's) is measured, and that build is never recommended.
"""

from __future__ import annotations

import json

import pytest

from host.cli import main
from host.hashing import sha256_file
from tests.adb_fixtures import isolated_host
from tests.builders import conv_stack_tflite, two_head_model, write_flat_images

FAST = ["--min-runs", "10", "--min-seconds", "0.05", "--warmup-seconds", "0.01"]


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    root = tmp_path_factory.mktemp("fidelity")
    with isolated_host(root):
        yield root


def test_every_output_of_every_build_is_compared_by_name(env):
    model = env / "twohead.keras"
    two_head_model().save(model)
    images = write_flat_images(env / "images", count=16)
    assert (
        main(["convert", str(model), "--modes", "all", "--calibration", str(images), "--out", str(env / "build")]) == 0
    )
    built = set(json.loads((env / "build" / "manifest.json").read_text())["modes"])
    assert built >= {
        "none",
        "dynamic_range",
        "float16",
        "integer",
        "full_integer",
        "int16x8",
        "dynamic_wi8",
        "dynamic_wi4",
        "weight_only_wi8",
        "weight_only_wi4",
        "a8w8",
        "a16w8",
    }, built
    argv = [
        "bench",
        "--model",
        str(env / "build"),
        "--dataset",
        str(images),
        "--backends",
        "cpu1,npu",
        "--db",
        str(env / "r.sqlite"),
        "--json",
        str(env / "run.json"),
        "--report",
        str(env / "run.html"),
        *FAST,
    ]
    assert main(argv) == 0
    run = json.loads((env / "run.json").read_text())
    compared = [c for c in run["cells"] if c["status"] == "ok" and (c["mode"], c["backend"]) != ("none", "cpu1")]
    assert {c["mode"] for c in compared if c["backend"] == "cpu1"} == built - {"none"}
    names = None
    for cell in compared:
        fidelity = cell["fidelity"]
        outputs = fidelity["outputs"]
        assert [o["values"] for o in outputs] == [512, 4], cell  # sorted by name: the mask (16x16x2), then the box
        names = names or [o["name"] for o in outputs]
        assert [o["name"] for o in outputs] == names, "the interpreter and LiteRT name and order outputs alike"
        assert fidelity["snr_db"] == min(o["snr_db"] for o in outputs) and cell["accuracy"] is None
        assert outputs[0]["top1_agreement"] is None and outputs[1]["top1_agreement"] is not None
        if (cell["mode"], cell["backend"]) == ("float16", "cpu1"):
            assert fidelity["snr_db"] > 50, cell  # float16 weights barely move either head (the NPU computes in bf16)
    page = (env / "run.html").read_text()
    assert "Fidelity of every output vs none/cpu1" in page and "worst-output SNR vs the float build (dB)" in page


def test_a_faster_build_that_drifts_from_float_is_never_recommended(env, tmp_path, capsys):
    """The float build is eight convolutions; "lite" is one: eight times less work and another
    function entirely. Unlabelled, only fidelity can tell: it must keep "lite" out."""
    folder = tmp_path / "builds"
    folder.mkdir()
    for mode, blocks in (("none", 8), ("lite", 1)):
        (folder / f"{mode}.tflite").write_bytes(conv_stack_tflite(blocks))
    entries = {
        mode: {"path": f"{mode}.tflite", "sha256": sha256_file(folder / f"{mode}.tflite")} for mode in ("none", "lite")
    }
    (folder / "manifest.json").write_text(json.dumps({"model": {"name": "stack"}, "modes": entries}))
    images = write_flat_images(tmp_path / "images", count=12)
    db = str(tmp_path / "r.sqlite")
    assert (
        main(
            [
                "bench",
                "--model",
                str(folder),
                "--dataset",
                str(images),
                "--backends",
                "cpu1",
                "--db",
                db,
                "--json",
                str(tmp_path / "run.json"),
                *FAST,
            ]
        )
        == 0
    )
    cells = {c["mode"]: c for c in json.loads((tmp_path / "run.json").read_text())["cells"]}
    assert cells["lite"]["latency_ms"]["p50"] < cells["none"]["latency_ms"]["p50"], "lite must be the faster build"
    assert cells["lite"]["fidelity"]["snr_db"] < 30, cells["lite"]["fidelity"]
    capsys.readouterr()
    assert main(["recommend", "--db", db]) == 0
    said = capsys.readouterr().out
    assert "recommended: none on cpu1" in said and "never picked: lite on cpu1" in said, said
    assert main(["recommend", "--db", db, "--min-snr", "-150"]) == 0  # without the floor, speed alone picks lite
    assert "recommended: lite on cpu1" in capsys.readouterr().out
