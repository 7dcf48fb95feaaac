"""The contract's dataclasses and the proto agree field by field, and conversion is strict."""

from __future__ import annotations

import dataclasses

import pytest

from device_agent import contract, wire
from device_agent._protos import agent_pb2
from device_agent.errors import WireError

SAMPLE = contract.CellResult(
    status="ok",
    phase="done",
    latency=contract.LatencyStats(1.0, 2.0, 0.5, 0.1, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 3, 1, (0.4, 0.5, 0.6), 1.5),
    memory=contract.Memory(10.0, 12.0),
    delegation=contract.Delegation(3, 4, "xnnpack", False),
    accuracy=contract.Accuracy(0.5, 0.75, 1.0, 4),
    fidelity=None,
    outputs_sha256="a" * 64,
    size_bytes=123,
    evaluate_seconds=0.25,
    evaluated_images=4,
    warm_start=contract.WarmStart(41.5, "NPU compiled model", 4096),
)


def test_every_contract_type_has_exactly_the_fields_of_its_message():
    for cls in wire._TYPES:
        fields = {f.name for f in dataclasses.fields(cls)}
        message = {f.name for f in getattr(agent_pb2, cls.__name__).DESCRIPTOR.fields}
        assert fields == message, cls.__name__
        assert wire.check_pair(cls)


def test_round_trip_through_bytes_is_lossless():
    data = wire.to_message(SAMPLE).SerializeToString()
    assert wire.from_message(agent_pb2.CellResult.FromString(data), contract.CellResult) == SAMPLE
    info = contract.DeviceInfo(
        "0.1",
        "ai-edge-litert",
        "2.3",
        "3.11",
        "x86_64",
        2,
        True,
        34,
        "m",
        "soc",
        {"ro.x": "1"},
        (contract.Backend("cpu1", True), contract.Backend("gpu", False, "no library")),
        "/r",
    )
    assert (
        wire.from_message(
            agent_pb2.DeviceInfo.FromString(wire.to_message(info).SerializeToString()), contract.DeviceInfo
        )
        == info
    )
    request = contract.CellRequest(
        "b" * 64, "cpu4", contract.LatencyParams(min_runs=7), contract.EvalParams("c" * 64, limit=3)
    )
    assert wire.from_message(wire.to_message(request), contract.CellRequest) == request


def test_absent_optional_parts_stay_none():
    result = wire.from_message(wire.to_message(contract.CellResult("unavailable", "no GPU")), contract.CellResult)
    assert result.latency is None and result.accuracy is None and result.error == "no GPU"


def test_unknown_fields_in_received_bytes_are_an_error():
    data = wire.to_message(SAMPLE).SerializeToString() + b"\xa0\x06\x01"  # field 100, varint 1: a newer peer
    with pytest.raises(WireError, match="does not know"):
        wire.from_message(agent_pb2.CellResult.FromString(data), contract.CellResult)


def test_a_python_field_the_message_lacks_is_an_error():
    @dataclasses.dataclass(frozen=True)
    class Memory:  # noqa: N801 - named after the message on purpose
        init_rss_mb: float
        peak_rss_mb: float
        swap_mb: float

    with pytest.raises(WireError, match=r"only in Python \['swap_mb'\]"):
        wire.to_message(Memory(1.0, 2.0, 3.0))


def test_a_message_field_python_lacks_is_an_error():
    @dataclasses.dataclass(frozen=True)
    class Accuracy:
        top1: float
        top3: float
        top5: float

    with pytest.raises(WireError, match=r"only in the proto \['count'\]"):
        wire.from_message(agent_pb2.Accuracy(top1=1.0), Accuracy)


def test_an_event_is_progress_or_result():
    progress = contract.Progress("measure", 0.5, "", 42)
    assert wire.event_from_message(wire.event_message(progress)) == progress
    assert wire.event_from_message(wire.event_message(SAMPLE)) == SAMPLE
    with pytest.raises(WireError):
        wire.event_from_message(agent_pb2.CellEvent())
