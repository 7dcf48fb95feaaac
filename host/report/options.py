"""``host report`` options as declared parameters."""

from __future__ import annotations

from dataclasses import dataclass

from host.bench.views import TABLES
from host.params import Param, at_least
from host.store.location import DB

FORMATS = ("table", "md", "json", "csv", "html")


@dataclass(frozen=True)
class ReportOptions:
    run_id: str = Param("latest", "run id (or a unique prefix), or latest", positional=True, metavar="RUN_ID").field()
    format: str = Param("table", "output format", choices=FORMATS).field()
    shown_tables: str = TABLES.field()
    output: str | None = Param(None, "write to a file instead of standard output", metavar="FILE", short="-o").field()
    db: str | None = DB.field()
    outputs: bool = Param(
        False,
        "print every output's fidelity to the float build (SNR, cosine, abs errors, top-1 "
        "agreement) per cell instead of the tables",
    ).field()
    ops: bool = Param(
        False, "print the per-op profile (each node's share of its cell's invoke) instead of the tables"
    ).field()
    cell: str | None = Param(None, "with --ops: only this cell", metavar="MODE/BACKEND").field()
    top: int | None = Param(
        None, "with --ops: the N slowest nodes of each cell", metavar="N", check=at_least(1)
    ).field()
