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
    config = BenchConfig(model=str(tiny.model), dataset=str(tiny.images), modes=modes, calibration_count=12)
    inputs = prepare_inputs(config, Quiet())
    assert inputs.dataset.count == evaluated
    assert set(inputs.models) == set(modes.split(","))
    assert inputs.dataset_file is not None and inputs.dataset_file.is_file()
