"""Stored JSON back into typed records, with errors that say where the data is wrong."""

from __future__ import annotations

import pytest

from device_agent.contract import LatencyStats
from host.codec import decode, encode, loads
from host.errors import RecordError
from host.results import CONTRACT_NAMES, DatasetInfo, ModelInfo, RunStats


def test_round_trip_with_contract_names():
    latency = LatencyStats(1.0, 2.0, 3.0, 0.1, 2.9, 3.0, 3.1, 3.2, 3.3, 3.4, 9, 1, (), 4.0)
    data = encode(latency, CONTRACT_NAMES)
    assert data["init"] == 1.0 and data["warmup_total"] == 4.0 and "init_ms" not in data
    assert decode(LatencyStats, data, "x", CONTRACT_NAMES) == latency


def test_defaults_fill_missing_fields_and_integers_are_floats():
    assert decode(RunStats, {"cells_run": 3}, "stats") == RunStats(cells_run=3)
    assert decode(ModelInfo, {"name": "m", "sha256": "s", "input_shape": [1, 2, 2, 3]}, "model").input_shape == (
        1,
        2,
        2,
        3,
    )
    assert decode(DatasetInfo, {"name": None, "count": 0}, "d") == DatasetInfo()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"sha256": "s", "input_shape": [1]}, "model: missing 'name'"),
        ({"name": "m", "sha256": "s", "input_shape": "wide"}, r"model.input_shape: expected a list"),
        ({"name": "m", "sha256": "s", "input_shape": [1, "x"]}, r"model.input_shape\[1\]: expected int"),
        ([1, 2], "model: expected an object"),
    ],
)
def test_damaged_data_names_the_place(data, message):
    with pytest.raises(RecordError, match=message):
        decode(ModelInfo, data, "model")


def test_text_that_is_not_json():
    with pytest.raises(RecordError, match="runs.config: not valid JSON"):
        loads("{not json", "runs.config")
