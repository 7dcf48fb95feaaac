"""The one input step: the preset a model's own preprocessing implies, and the demo's defaults."""

from __future__ import annotations

import json
import zipfile

import pytest

from host.convert.inputs import InputRequest, choose_preset, first_layer, resolve_inputs
from host.convert.modes import ModeRequest
from host.errors import InputError


def _keras_file(path, layers, nested=False):
    """A .keras archive holding only its config.json: all the input step reads without TensorFlow."""
    inner = {"class_name": "Sequential", "config": {"layers": layers}}
    config = (
        {"class_name": "Functional", "config": {"layers": [{"class_name": "InputLayer", "config": {}}, inner]}}
        if nested
        else inner
    )
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("config.json", json.dumps(config))
    return path


RESCALING = {"class_name": "Rescaling", "config": {"scale": 1 / 127.5, "offset": -1.0}}
CONV = {"class_name": "Conv2D", "config": {}}


@pytest.mark.parametrize("nested", [False, True])
def test_a_model_that_scales_its_own_pixels_gets_raw_input_and_says_why(tmp_path, nested):
    model = _keras_file(tmp_path / "m.keras", [{"class_name": "InputLayer"}, RESCALING, CONV], nested)
    inputs = resolve_inputs(InputRequest(str(model), evaluate=False))
    assert first_layer(model) == "Rescaling"
    assert inputs.preset == "raw"
    assert "first layer is Rescaling" in inputs.preset_note and "raw pixels" in inputs.preset_note


def test_normalization_first_is_raw_too_and_an_explicit_preset_always_wins(tmp_path):
    model = _keras_file(tmp_path / "n.keras", [{"class_name": "Normalization", "config": {}}, CONV])
    assert resolve_inputs(InputRequest(str(model), evaluate=False)).preset == "raw"
    explicit = resolve_inputs(InputRequest(str(model), preset="mobilenet", evaluate=False))
    assert (explicit.preset, explicit.preset_reason) == ("mobilenet", "given with --preset")


def test_a_model_without_preprocessing_gets_the_default_and_the_note_names_its_first_layer(tmp_path):
    model = _keras_file(tmp_path / "c.keras", [CONV])
    inputs = resolve_inputs(InputRequest(str(model), evaluate=False))
    assert inputs.preset == "mobilenet" and "first layer is Conv2D" in inputs.preset_reason


def test_an_unreadable_configuration_is_not_a_guess(tmp_path):
    model = tmp_path / "broken.keras"
    with zipfile.ZipFile(model, "w") as archive:
        archive.writestr("config.json", "{not json")
    assert first_layer(model) is None
    assert choose_preset(None, resolve_inputs(InputRequest(str(model), evaluate=False)).source)[0] == "mobilenet"


def test_the_demo_brings_its_images_its_layers_and_its_preset():
    inputs = resolve_inputs(InputRequest("demo", modes=ModeRequest.parse("none,integer"), evaluate=False))
    assert inputs.calibration is not None and inputs.calibration.name == "calibration"
    assert inputs.keep_float, "the demo's tuned keep-float layers come with the integer mode"
    assert inputs.dataset is None and not inputs.demo_data, "convert evaluates nothing"
    assert "recorded for demo" in inputs.preset_reason
    plain = resolve_inputs(InputRequest("demo", modes=ModeRequest.parse("none"), evaluate=False))
    assert plain.calibration is None and plain.keep_float == ()


def test_debug_and_tune_need_a_calibration_folder_for_a_users_model(tmp_path):
    model = _keras_file(tmp_path / "c.keras", [CONV])
    with pytest.raises(InputError, match="--calibration DIR"):
        resolve_inputs(InputRequest(str(model), calibrate=True))
