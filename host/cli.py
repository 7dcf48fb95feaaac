"""The ``host`` command: parse options, call the command's module, turn errors into exit codes.

Each subcommand is a module of ``host/commands`` (its option tables and its ``run``); this
file builds the parser from them, runs every option's own check before any work, and maps the
root error: every ``HostError`` ends as one line on stderr and the exit code its class names,
never a traceback.
"""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

from host import __version__
from host.commands import bench, cache, check, compare, convert, debug, devices, emulator, recommend, report, tune
from host.commands.spec import Command, Run
from host.errors import ExitCode, HostError
from host.params import from_namespace, validate

COMMANDS: tuple[Command, ...] = (
    convert.COMMAND,
    bench.COMMAND,
    report.COMMAND,
    check.COMMAND,
    compare.COMMAND,
    debug.COMMAND,
    tune.COMMAND,
    recommend.COMMAND,
    *devices.COMMANDS[:1],
    *emulator.COMMANDS,
    *devices.COMMANDS[1:],
    *cache.COMMANDS,
)
GROUPS = {
    "emulator": "start or stop the x86 emulated Android device",
    "cache": "the caches on this machine and on devices",
}


class OneLineParser(argparse.ArgumentParser):
    """argparse's own errors (an unknown choice, a number that is not one) as one line and exit 2,
    like every other bad input, instead of the usage block before it."""

    def error(self, message: str) -> NoReturn:
        self.exit(int(ExitCode.USAGE), f"error: {message} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="host", description="Quantize a model and measure it on Android devices.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    groups: dict[str, argparse._SubParsersAction[Any]] = {}
    for command in COMMANDS:
        if command.group and command.group not in groups:
            group = sub.add_parser(command.group, help=GROUPS[command.group])
            groups[command.group] = group.add_subparsers(dest="action", required=True)
        command.add_to(groups[command.group] if command.group else sub)
    return parser


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    signal.signal(signal.SIGTERM, _interrupt)  # run the same cleanup as Ctrl-C (agent, forward, emulator)
    args = build_parser().parse_args(argv)
    run: Run = args.run
    try:
        for table in args.tables:  # every option's own check (ranges, finite numbers) before any work
            validate(from_namespace(table, args))
        return int(run(args))
    except HostError as e:
        print(f"error: {e}", file=sys.stderr)
        return int(e.exit_code)
    except OSError as e:  # a path the user gave that cannot be read or written
        where = f" ({e.filename})" if e.filename else ""
        print(f"error: {e.strerror or e}{where}", file=sys.stderr)
        return int(ExitCode.USAGE)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return int(ExitCode.INTERRUPTED)
    finally:
        _stop_started_servers(keep=getattr(args, "action", "") == "start")


def _stop_started_servers(keep: bool) -> None:
    """An adb server this command started at a --adb-server address it named is stopped again
    (an emulated device started for later use keeps it); either way the user is told."""
    if "host.devices.transport.adb" in sys.modules:
        from host.devices.transport.adb import stop_started_servers

        for note in stop_started_servers(keep):
            print(f"note: {note}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
