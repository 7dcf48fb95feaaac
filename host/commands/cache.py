"""``host cache prune``: bound this machine's caches, and a device's agent store with --device."""

from __future__ import annotations

import argparse

from host.cache import PruneOptions
from host.commands.spec import Command
from host.errors import ExitCode
from host.params import from_namespace


def run(args: argparse.Namespace) -> int:
    from host.cache import prune_device_store, prune_host

    options = from_namespace(PruneOptions, args)
    print(prune_host(options.max_mb, options.max_days).describe("caches on this machine"))
    if options.device:
        print(prune_device_store(options))
    return ExitCode.OK


COMMANDS = (
    Command(
        "prune",
        "remove cache entries unused for --max-days, then the least recently used beyond --max-mb",
        run,
        (PruneOptions,),
        group="cache",
    ),
)
