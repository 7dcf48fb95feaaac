"""What a command module declares: its name, help, option tables and ``run``."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from host.errors import ExitCode
from host.fsio import atomic_write, check_writable
from host.params import add_arguments

if TYPE_CHECKING:
    from host.store.location import StoreLocation

Run = Callable[[argparse.Namespace], int]


@dataclass(frozen=True)
class Command:
    """A subcommand: its options are the declared parameters of ``tables`` (of a table in
    ``only``, just the names listed there); ``group`` makes it ``host GROUP NAME``."""

    name: str
    help: str
    run: Run
    tables: tuple[type, ...]
    group: str = ""
    only: Mapping[type, Collection[str]] = field(default_factory=dict)

    def add_to(self, sub: argparse._SubParsersAction[Any]) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = sub.add_parser(self.name, help=self.help, description=self.help)
        for table in self.tables:
            add_arguments(parser, table, only=self.only.get(table))
        parser.set_defaults(run=self.run, tables=self.tables)
        return parser


def writable(*paths: str | None) -> None:
    """Each output path can be written: checked before the work, not after it."""
    for path in paths:
        if path is not None:
            check_writable(Path(path))


def store(value: str | None) -> StoreLocation:
    """The results store named by --db, $QUANTBENCH_DB, or the default file."""
    from host.store.location import locate

    return locate(value)


def emit(text: str, output: str | None) -> int:
    """``text`` to the file named (atomically), or to stdout."""
    import sys

    if output:
        writable(output)
        atomic_write(Path(output), text)
        print(f"wrote {output}")
    else:
        sys.stdout.write(text)
    return ExitCode.OK


def say(text: str) -> None:
    print(f"- {text}", flush=True)
