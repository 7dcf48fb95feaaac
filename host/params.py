"""Declared parameters: one table per command, from which the CLI options and the config come.

A config is a frozen dataclass whose fields are declared with :meth:`Param.field`; each
:class:`Param` carries the default, the unit, the help text and the check. ``add_arguments``
builds the argparse options from those fields, ``from_namespace`` builds the config back, and
``validate`` runs every check before any work (TFLite ``benchmark_model``'s
``DefaultParams``/``GetFlags``/``ValidateParams`` as one table). Shared options are one ``Param``
each, used in several tables.

A large config is made of parts (:func:`part`): frozen tables of their own, one per concern,
that a consumer takes alone. ``params`` flattens them, so the command line stays flat (every
option name is unique across the parts), and ``build``/``flat``/``with_values`` move between the
flat names and the parts.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import types
import typing
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from host.codec import type_hints
from host.errors import InputError

Check = Callable[[Any], "str | None"]
T = TypeVar("T")


@dataclass(frozen=True)
class Param:
    """One option: its default, what it means, its unit, and what values it accepts."""

    default: object
    help: str
    unit: str = ""
    metavar: str | None = None
    check: Check | None = None
    choices: tuple[str, ...] | None = None
    flag: str | None = None  # default: --<field-name-with-dashes>
    short: str | None = None  # a one-letter alias such as -o
    many: bool = False  # repeatable: --device A --device B
    positional: bool = False
    required: bool = False
    # the command line's text -> the value the config holds (ValueError says what is wrong), and back
    parse: Callable[[str], Any] | None = None
    show: Callable[[Any], str] = str

    def field(self) -> Any:
        default = self.parse(self.default) if self.parse and isinstance(self.default, str) else self.default
        return dataclasses.field(default=default, metadata={"param": self})

    def parsed(self, value: object, flag: str) -> object:
        """``value`` as the config holds it: text from a command line or a stored run is parsed, once."""
        if self.parse is None or not isinstance(value, str):
            return value
        try:
            return self.parse(value)
        except ValueError as e:
            raise InputError(f"{flag} {e}") from None


def at_least(low: float) -> Check:
    return lambda value: None if value is None or value >= low else f"must be at least {low:g}"


def between(low: float, high: float) -> Check:
    return lambda value: None if value is None or low <= value <= high else f"must be between {low:g} and {high:g}"


def positive(value: float | None) -> str | None:
    return None if value is None or value > 0 else "must be positive"


def part(cls: type[T]) -> T:
    """A nested table of parameters: its options are the command's own, its value a ``cls``."""
    field: T = dataclasses.field(default_factory=cls, metadata={"part": cls})
    return field


def parts_of(cls: type) -> list[tuple[dataclasses.Field[Any], type]]:
    """The parts of a config class: (field, its table)."""
    return [(f, f.metadata["part"]) for f in dataclasses.fields(cls) if "part" in f.metadata]


def _leaves(cls: type) -> list[tuple[type, dataclasses.Field[Any], Param]]:
    """(owning table, field, parameter) of ``cls`` and of its parts, in declaration order."""
    found: list[tuple[type, dataclasses.Field[Any], Param]] = []
    for f in dataclasses.fields(cls):
        if "param" in f.metadata:
            found.append((cls, f, f.metadata["param"]))
        elif "part" in f.metadata:
            found += _leaves(f.metadata["part"])
    return found


def _base(hint: Any) -> Any:
    """int for ``int | None``, str for ``tuple[str, ...]``."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return _base(next(a for a in typing.get_args(hint) if a is not type(None)))
    if origin is tuple:
        return typing.get_args(hint)[0]
    return hint


def params(cls: type) -> list[tuple[dataclasses.Field[Any], Param]]:
    """The declared parameters of a config class and its parts, flattened, in declaration order."""
    return [(f, spec) for _, f, spec in _leaves(cls)]


def build(cls: type[T], values: Mapping[str, object]) -> T:
    """A ``cls`` from flat parameter names (each part takes its own); absent names keep defaults;
    a parameter with a ``parse`` hook gets its value parsed."""
    own = {
        f.name: f.metadata["param"].parsed(values[f.name], flag_of(f, f.metadata["param"]))
        for f in dataclasses.fields(cls)  # type: ignore[arg-type]
        if "param" in f.metadata and f.name in values
    }
    own.update({f.name: build(kind, values) for f, kind in parts_of(cls)})
    return cls(**own)


def flat(config: object) -> dict[str, object]:
    """Every parameter of ``config`` and its parts by its flat name."""
    values: dict[str, object] = {}
    for f in dataclasses.fields(config):  # type: ignore[arg-type]
        value = getattr(config, f.name)
        if "part" in f.metadata:
            values.update(flat(value))
        elif "param" in f.metadata:
            spec = f.metadata["param"]
            values[f.name] = spec.show(value) if spec.parse else value  # as typed: what is stored and shown
    return values


def with_values(config: T, **values: object) -> T:
    """``config`` with some parameters changed by their flat names, in whichever part they live."""
    unknown = set(values) - {f.name for f, _ in params(type(config))}
    if unknown:
        raise TypeError(f"{type(config).__name__} has no parameter {', '.join(sorted(unknown))}")
    return build(type(config), {**flat(config), **values})


def flag_of(field: dataclasses.Field[Any], spec: Param) -> str:
    return spec.flag or "--" + field.name.replace("_", "-")


def _flags(field: dataclasses.Field[Any], spec: Param) -> list[str]:
    return ([spec.short] if spec.short else []) + [flag_of(field, spec)]


def _help(spec: Param, kind: object) -> str:
    """The help text with its unit and default: ``minimum warm-up time (seconds; default: 0.5)``."""
    notes = [spec.unit] if spec.unit and spec.unit not in spec.help else []
    if (
        kind is not bool
        and spec.default not in (None, "", ())
        and "default:" not in spec.help
        and "(default " not in spec.help
    ):
        notes.append(f"default: {spec.default}")
    text = spec.help + (f" ({'; '.join(notes)})" if notes else "")
    return text.replace("%", "%%")


def add_arguments(parser: argparse.ArgumentParser, cls: type, only: Iterable[str] | None = None) -> None:
    """Add an option (or positional) for each parameter of ``cls`` (or those named in ``only``)."""
    wanted = set(only) if only is not None else None
    for owner, field, spec in _leaves(cls):
        if wanted is not None and field.name not in wanted:
            continue
        kind = _base(type_hints(owner)[field.name])  # building a bench's parser asks 217 times
        kind = str if kind is Path or spec.parse else kind
        if spec.positional:
            if spec.default in (None, ""):
                parser.add_argument(field.name, metavar=spec.metavar, help=_help(spec, kind))
            else:
                parser.add_argument(
                    field.name, metavar=spec.metavar, help=_help(spec, kind), nargs="?", default=spec.default
                )
        elif kind is bool:
            action = "store_false" if spec.default else "store_true"
            parser.add_argument(*_flags(field, spec), dest=field.name, action=action, help=_help(spec, kind))
        else:
            parser.add_argument(
                *_flags(field, spec),
                dest=field.name,
                type=kind,
                default=None if spec.many else spec.default,
                choices=spec.choices,
                metavar=spec.metavar,
                required=spec.required,
                action="append" if spec.many else "store",
                help=_help(spec, kind),
            )


def from_namespace(cls: type[T], namespace: argparse.Namespace) -> T:
    """The config ``cls`` from parsed options (repeated options become tuples)."""
    values = {}
    for field, spec in params(cls):
        if hasattr(namespace, field.name):
            value = getattr(namespace, field.name)
            values[field.name] = tuple(value or ()) if spec.many else value
    return build(cls, values)


def validate(config: object) -> None:
    """Every parameter's check, plus finiteness for every number: InputError naming the flag."""
    values = flat(config)
    for field, spec in params(type(config)):
        value = values[field.name]
        flag = flag_of(field, spec) if not spec.positional else field.name
        if isinstance(value, float) and not math.isfinite(value):
            raise InputError(f"{flag} must be a finite number, not {value}")
        problem = spec.check(value) if spec.check else None
        if problem:
            raise InputError(f"{flag} {problem}")


def comma_list(text: str | None, flag: str) -> list[str]:
    """A comma-separated option's items, stripped; an empty item (``cpu1,,``, ``,,,``) is refused:
    it is a typo or a variable that expanded to nothing, never "nothing there"."""
    if text is None or not text.strip():
        return []
    items = [item.strip() for item in text.split(",")]
    if any(not item for item in items):
        raise InputError(f"{flag} {text!r} has an empty item between commas")
    return items
