"""A cell's status is a named state end to end; the wire, the JSON and the database keep its text."""

from __future__ import annotations

import json

import pytest

from device_agent import wire
from device_agent.contract import CellResult, CellStatus
from device_agent.errors import InvalidRequest
from host.errors import RecordError
from host.results import result_from_parts


def test_text_from_a_peer_becomes_the_state_and_unknown_text_is_refused():
    assert CellResult(status="fallback").status is CellStatus.FALLBACK  # type: ignore[arg-type]
    with pytest.raises(InvalidRequest, match="unknown cell status 'broken'"):
        CellResult(status="broken")  # type: ignore[arg-type]
    with pytest.raises(RecordError, match="not a cell status"):
        result_from_parts("broken", "", "", {}, "run r cell 1")


def test_the_wire_and_json_carry_the_text():
    result = CellResult(status=CellStatus.NUMERICS, error="NaN in output 0")
    message = wire.to_message(result)
    assert message.status == "numerics" and type(message.status) is str
    again = wire.from_message(message, CellResult)
    assert again == result and again.status is CellStatus.NUMERICS
    assert json.dumps({"status": result.status}) == '{"status": "numerics"}' and f"{result.status}" == "numerics"
