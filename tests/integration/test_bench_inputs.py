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
    chosen = prepare_inputs(BenchConfig.of(model=str(path), dataset=str(tiny.images), modes="none", preset="mobilenet"), Quiet())
    assert chosen.preset == "mobilenet", "an explicit --preset always wins"
