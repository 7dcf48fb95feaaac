"""Typed records to and from JSON-shaped data, with errors that say where the data is wrong.

Stored rows and JSON files are read back into frozen dataclasses through ``decode``; a value of
the wrong type or a missing field raises :class:`RecordError` naming the path inside the data
(``cells[3].latency.p50``), so a damaged database or file is one clear line, not a traceback.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from collections.abc import Mapping
from typing import Any, TypeVar

from host.errors import RecordError

T = TypeVar("T")
_NUMBER = (int, float)


# A JSON object as json.loads gives it: where the tool meets a file format it does not define
# (COCO, the quantizer's recipes, Keras configs, STF's answers, caches' metadata), values are untyped
# until decoded; every such place takes this one name.
JsonObject = dict[str, Any]

_HINTS: dict[type, dict[str, Any]] = {}


def type_hints(cls: type) -> dict[str, Any]:
    """A dataclass's annotations, resolved once per class: resolving evaluates each one's text
    again (``from __future__ import annotations``). Decoding and option tables both ask often."""
    if cls not in _HINTS:
        _HINTS[cls] = typing.get_type_hints(cls)
    return _HINTS[cls]


def encode(value: object, renames: Mapping[str, str] | None = None) -> Any:
    """Dataclasses as dicts (field names renamed where asked), tuples as lists."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            (renames or {}).get(f.name, f.name): encode(getattr(value, f.name), renames)
            for f in dataclasses.fields(value)
        }
    if isinstance(value, (tuple, list)):
        return [encode(v, renames) for v in value]
    if isinstance(value, dict):
        return {k: encode(v, renames) for k, v in value.items()}
    return value


def decode(cls: type[T], data: object, where: str, renames: Mapping[str, str] | None = None) -> T:
    """A ``cls`` from ``data``; fields with defaults may be missing, any other mismatch raises."""
    if not isinstance(data, dict):
        raise RecordError(f"{where}: expected an object, found {type(data).__name__}")
    names = renames or {}
    values: dict[str, object] = {}
    for field in dataclasses.fields(cls):  # type: ignore[arg-type]
        key = names.get(field.name, field.name)
        if key in data:
            values[field.name] = _convert(type_hints(cls)[field.name], data[key], f"{where}.{key}", names)
        elif field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
            raise RecordError(f"{where}: missing {key!r}")
    return cls(**values)


def _convert(hint: Any, value: object, where: str, renames: Mapping[str, str]) -> object:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        options = [a for a in args if a is not type(None)]
        return _convert(options[0], value, where, renames)
    if dataclasses.is_dataclass(hint):
        return decode(hint, value, where, renames)  # type: ignore[arg-type]
    if origin is typing.Literal:  # a closed set of states: the stored text must be one of them
        if value not in args:
            raise RecordError(f"{where}: expected one of {', '.join(map(repr, args))}, found {value!r:.40}")
        return value
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise RecordError(f"{where}: expected a list, found {type(value).__name__}")
        return tuple(_convert(args[0], v, f"{where}[{i}]", renames) for i, v in enumerate(value))
    if origin is dict:
        if not isinstance(value, dict):
            raise RecordError(f"{where}: expected an object, found {type(value).__name__}")
        return {str(k): _convert(args[1], v, f"{where}.{k}", renames) for k, v in value.items()}
    return _scalar(hint, value, where)


def _scalar(hint: Any, value: object, where: str) -> object:
    if hint is Any or hint is object:
        return value
    if hint is float and isinstance(value, _NUMBER) and not isinstance(value, bool):
        return float(value)
    if hint is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    if hint in (str, bool) and isinstance(value, hint):
        return value
    raise RecordError(f"{where}: expected {getattr(hint, '__name__', hint)}, found {value!r:.40}")


def loads(text: str | None, where: str) -> Any:
    """JSON text, or RecordError naming where it came from."""
    if text is None:
        return None
    try:
        return json.loads(text)
    except (TypeError, ValueError) as e:
        raise RecordError(f"{where}: not valid JSON ({e})") from e
