"""``host report`` options as declared parameters."""

from __future__ import annotations

from dataclasses import dataclass

from host.params import Param
from host.store.location import DB

FORMATS = ("table", "md", "json", "csv", "html")


@dataclass(frozen=True)
class ReportOptions:
    run_id: str = Param("latest", "run id (or a unique prefix), or latest", positional=True, metavar="RUN_ID").field()
    format: str = Param("table", "output format", choices=FORMATS).field()
    output: str | None = Param(None, "write to a file instead of standard output", metavar="FILE", short="-o").field()
    db: str | None = DB.field()
