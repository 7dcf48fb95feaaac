"""What bench prepares on the host: calibration is carved from the dataset only when needed."""

from __future__ import annotations

import pytest

from host.bench.config import BenchConfig
from host.bench.inputs import prepare_inputs
from tests.builders import weight_dominated_model, write_image_folder


@pytest.fixture(scope="module")
def inputs_env(tmp_path_factory):
    root = tmp_path_factory.mktemp("inputs")
    weight_dominated_model().save(root / "tiny.keras")
    write_image_folder(root / "images", classes=4, per_class=10)
    return root


@pytest.mark.parametrize(("modes", "evaluated"), [("none,float16", 40), ("none,integer", 40 - 12)])
def test_calibration_slice_only_when_a_mode_needs_it(inputs_env, monkeypatch, modes, evaluated):
    monkeypatch.setenv("QUANTBENCH_CACHE_DIR", str(inputs_env / "cache"))
    config = BenchConfig(model=str(inputs_env / "tiny.keras"), dataset=str(inputs_env / "images"), modes=modes, calibration_count=12)
    inputs = prepare_inputs(config)
    assert inputs.dataset["count"] == evaluated
    assert set(inputs.models) == set(modes.split(","))
    assert inputs.dataset_file is not None and inputs.dataset_file.is_file()
