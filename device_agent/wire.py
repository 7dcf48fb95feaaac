"""Convert the contract's dataclasses to and from protobuf messages, strictly, in one place.

Each dataclass in ``contract.py`` pairs with the message of the same name. A field the dataclass
has and the message lacks, a field the message has and the dataclass lacks, or unknown fields in
received bytes (a peer built from another proto) raise :class:`WireError` instead of being
silently dropped. Optional nested messages, and scalars declared ``optional`` in the proto, map to
``None`` when absent (a top-1 agreement that does not apply is absent, not 0).
"""

from __future__ import annotations

import dataclasses
from enum import Enum
from typing import TypeVar

from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from device_agent import contract
from device_agent._protos import agent_pb2
from device_agent.errors import WireError

T = TypeVar("T")
_TYPES: tuple[type, ...] = (
    contract.LatencyParams,
    contract.EvalParams,
    contract.EnergyParams,
    contract.EnergyWindow,
    contract.CellRequest,
    contract.Progress,
    contract.LatencyStats,
    contract.Memory,
    contract.Delegation,
    contract.Accuracy,
    contract.OutputFidelity,
    contract.Fidelity,
    contract.Numerics,
    contract.OpTime,
    contract.OpProfile,
    contract.WarmStart,
    contract.TaskEvidence,
    contract.CellResult,
    contract.Backend,
    contract.DeviceInfo,
    contract.StoreStatus,
    contract.PruneRequest,
    contract.PruneResponse,
)
_BY_NAME: dict[str, type] = {t.__name__: t for t in _TYPES}


def _message_class(cls: type) -> type[Message]:
    message = getattr(agent_pb2, cls.__name__, None)
    if message is None:
        raise WireError(f"no message {cls.__name__} in agent.proto")
    return message


def _repeated(field: FieldDescriptor) -> bool:
    is_repeated = getattr(field, "is_repeated", None)  # protobuf 6+; older versions expose label
    return bool(is_repeated) if is_repeated is not None else field.label == 3


def _is_map(field: FieldDescriptor) -> bool:
    return field.message_type is not None and field.message_type.GetOptions().map_entry


_CHECKED: dict[type, tuple[str, ...]] = {}


def check_pair(cls: type) -> tuple[str, ...]:
    """The field names shared by ``cls`` and its message; a field on one side only is an error."""
    if cls in _CHECKED:
        return _CHECKED[cls]
    descriptor = _message_class(cls).DESCRIPTOR
    ours = [f.name for f in dataclasses.fields(cls)]
    theirs = {f.name for f in descriptor.fields}
    missing = [name for name in ours if name not in theirs]
    extra = sorted(theirs - set(ours))
    if missing or extra:
        raise WireError(
            f"{cls.__name__} and message {descriptor.full_name} disagree: "
            f"only in Python {missing or '-'}, only in the proto {extra or '-'}"
        )
    _CHECKED[cls] = tuple(ours)
    return _CHECKED[cls]


def to_message(value: object) -> Message:
    """The protobuf message for a contract dataclass (nested ones included)."""
    cls = type(value)
    message = _message_class(cls)()
    descriptor = message.DESCRIPTOR
    for name in check_pair(cls):
        item = getattr(value, name)
        field = descriptor.fields_by_name[name]
        if item is None:
            continue
        if _is_map(field):
            getattr(message, name).update(item)
        elif field.message_type is not None and _repeated(field):
            getattr(message, name).extend(to_message(v) for v in item)
        elif field.message_type is not None:
            getattr(message, name).CopyFrom(to_message(item))
        elif _repeated(field):
            getattr(message, name).extend(item)
        else:
            setattr(message, name, item.value if isinstance(item, Enum) else item)
    return message


def _unknown_fields(message: Message) -> int:
    try:
        from google.protobuf.unknown_fields import UnknownFieldSet
    except ImportError:  # protobuf < 4.22: no public reader; the schema check still applies
        return 0
    return len(UnknownFieldSet(message))


def from_message(message: Message, cls: type[T]) -> T:
    """The dataclass ``cls`` for a received message; unknown or missing fields raise WireError."""
    if type(message).DESCRIPTOR.full_name != _message_class(cls).DESCRIPTOR.full_name:
        raise WireError(f"expected message {cls.__name__}, got {type(message).DESCRIPTOR.full_name}")
    if _unknown_fields(message):
        raise WireError(f"message {cls.__name__} carries fields this side does not know (a newer peer?)")
    values: dict[str, object] = {}
    for name in check_pair(cls):
        field = message.DESCRIPTOR.fields_by_name[name]
        raw = getattr(message, name)
        if _is_map(field):
            values[name] = dict(raw)
        elif field.message_type is not None and _repeated(field):
            values[name] = tuple(from_message(v, _BY_NAME[field.message_type.name]) for v in raw)
        elif field.message_type is not None:
            values[name] = from_message(raw, _BY_NAME[field.message_type.name]) if message.HasField(name) else None
        elif _repeated(field):
            values[name] = tuple(raw)
        else:
            values[name] = raw if _present(message, name) else None
    return cls(**values)


def _present(message: Message, name: str) -> bool:
    """False only for an ``optional`` scalar the sender left unset; plain proto3 scalars have no presence."""
    try:
        return message.HasField(name)
    except ValueError:
        return True


def event_message(event: contract.Progress | contract.CellResult) -> Message:
    """A CellEvent carrying progress or the result."""
    if isinstance(event, contract.Progress):
        return agent_pb2.CellEvent(progress=to_message(event))
    return agent_pb2.CellEvent(result=to_message(event))


def event_from_message(message: Message) -> contract.Progress | contract.CellResult:
    kind = message.WhichOneof("event")
    if kind == "progress":
        return from_message(message.progress, contract.Progress)
    if kind == "result":
        return from_message(message.result, contract.CellResult)
    raise WireError("a cell event with neither progress nor result")
