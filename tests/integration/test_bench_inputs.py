"""What bench prepares on the host: calibration is carved from the dataset only when needed."""

from __future__ import annotations

import pytest

from host.bench.config import BenchConfig
from host.bench.inputs import prepare_inputs


class Quiet:
    def stage(self, text):
        pass

    def mode_started(self, mode, index, total):
        pass

    def mode_done(self, result):
        pass


@pytest.mark.parametrize(("modes", "evaluated"), [("none,float16", 40), ("none,integer", 40 - 12)])
def test_calibration_slice_only_when_a_mode_needs_it(tiny, monkeypatch, modes, evaluated):
    monkeypatch.setenv("QUANTBENCH_CACHE_DIR", str(tiny.root / "cache"))
    config = BenchConfig.of(model=str(tiny.model), dataset=str(tiny.images), modes=modes, calibration_count=12)
    inputs = prepare_inputs(config, Quiet())
    assert inputs.dataset.count == evaluated
    assert set(inputs.models) == set(modes.split(","))
    assert inputs.dataset_file is not None and inputs.dataset_file.is_file()


@pytest.mark.parametrize("suffix", [".keras", ".h5"])
def test_a_keras_model_that_scales_raw_pixels_is_fed_raw_pixels(tiny, tmp_path, monkeypatch, suffix):
    """Its first layer is Rescaling(1/127.5, offset=-1): mobilenet-scaled input would be scaled twice."""
    from tests.builders import keras

    monkeypatch.setenv("QUANTBENCH_CACHE_DIR", str(tmp_path / "cache"))
    k = keras()
    inp = k.Input((32, 32, 3))
    x = k.layers.Rescaling(1 / 127.5, offset=-1)(inp)
    out = k.layers.Dense(4, activation="softmax")(k.layers.GlobalAveragePooling2D()(k.layers.Conv2D(8, 3)(x)))
    path = tmp_path / f"raw{suffix}"
    k.Model(inp, out).save(path)
    inputs = prepare_inputs(BenchConfig.of(model=str(path), dataset=str(tiny.images), modes="none"), Quiet())
    assert inputs.preset == "raw" and inputs.model.preset == "raw"
    assert any("preset raw" in n and "Rescaling" in n for n in inputs.notes)
    chosen = prepare_inputs(
        BenchConfig.of(model=str(path), dataset=str(tiny.images), modes="none", preset="mobilenet"), Quiet()
    )
    assert chosen.preset == "mobilenet", "an explicit --preset always wins"


@pytest.mark.parametrize("heads", ["two_outputs", "per_pixel"])
def test_class_labels_for_a_model_that_is_no_classifier_are_bad_input(tiny, tmp_path, monkeypatch, heads):
    """A landmark model's several heads, a segmenter's mask: top-k over them would print a
    meaningless top-1 (the issue saw 10.0% and 0.0%, exit 0). Refused as bad input (exit 2)
    before any cell runs; the same model without labels prepares."""
    from host.errors import DatasetError
    from tests.builders import keras

    monkeypatch.setenv("QUANTBENCH_CACHE_DIR", str(tmp_path / "cache"))
    k = keras()
    inp = k.Input((32, 32, 3))
    x = k.layers.Conv2D(4, 3, padding="same")(inp)
    outputs = (
        [k.layers.Conv2D(2, 1, name="mask")(x)]
        if heads == "per_pixel"
        else [
            k.layers.Dense(42, name="points")(k.layers.Flatten()(x)),
            k.layers.Dense(1, name="presence")(k.layers.Flatten()(x)),
        ]
    )
    path = tmp_path / f"{heads}.keras"
    k.Model(inp, outputs).save(path)
    with pytest.raises(DatasetError, match="labels score a classifier") as refused:
        prepare_inputs(BenchConfig.of(model=str(path), dataset=str(tiny.images), modes="none"), Quiet())
    assert "\n" not in str(refused.value)
    unlabelled = tmp_path / "unlabelled"
    unlabelled.mkdir()
    for image in sorted(tiny.images.rglob("*.png"))[:4]:
        (unlabelled / f"{image.parent.name}_{image.name}").write_bytes(image.read_bytes())
    inputs = prepare_inputs(BenchConfig.of(model=str(path), dataset=str(unlabelled), modes="none"), Quiet())
    assert not inputs.dataset.labelled and inputs.dataset.count == 4
