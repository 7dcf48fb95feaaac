"""Which of a run's tables to print (``--tables``): the summary alone unless asked for more."""

from __future__ import annotations

from host.params import Param

# The tables a run has, in the order they print; the summary is the seed's own table in one.
TABLE_NAMES = ("summary", "size", "accuracy", "latency", "fidelity", "delegation", "memory", "start", "energy")
DEFAULT_TABLES = ("summary",)


def parse_tables(text: str) -> tuple[str, ...]:
    """``all``, or a comma list of TABLE_NAMES (ValueError naming the one that is not)."""
    names = tuple(part.strip() for part in text.split(","))
    if names == ("all",):
        return TABLE_NAMES
    unknown = [n for n in names if n not in TABLE_NAMES]
    if unknown or not all(names):
        raise ValueError(
            f"unknown table {unknown[0] if unknown else '(empty)'!r}: choose all or from {', '.join(TABLE_NAMES)}"
        )
    return names


def _check(value: str) -> str | None:
    try:
        parse_tables(value)
    except ValueError as e:
        return str(e)
    return None


TABLES = Param(
    "summary",
    "tables to print: summary (size, quality and p50 per backend), all, or a comma list of " + ", ".join(TABLE_NAMES),
    metavar="LIST",
    check=_check,
    flag="--tables",
)
