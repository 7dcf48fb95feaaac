"""Where the results live: a SQLite file (the embedded default) or a PostgreSQL database (shared by
a team's CI jobs and lab hosts).

``--db FILE`` or ``--db postgresql://USER@HOST[:PORT]/DB``; without ``--db``, ``$QUANTBENCH_DB``,
else ``~/.local/share/quantbench/results.sqlite``. A password never goes on a command line (any
local user can read it from ``ps``): libpq takes it from ``PGPASSWORD`` or ``~/.pgpass``, and a
URL in ``$QUANTBENCH_DB`` may carry one.
"""

from __future__ import annotations

import os
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

from host.errors import InputError
from host.params import Param
from host.paths import data_dir

DB = Param(
    None,
    "results database: a SQLite file, or postgresql://USER@HOST[:PORT]/DB shared by a team (password from "
    "PGPASSWORD or ~/.pgpass); default $QUANTBENCH_DB, else ~/.local/share/quantbench/results.sqlite",
    metavar="FILE|URL",
)
ENVIRONMENT = "QUANTBENCH_DB"
POSTGRES_SCHEMES = ("postgresql://", "postgres://")


def default_path() -> Path:
    return data_dir() / "results.sqlite"


@dataclass(frozen=True)
class StoreLocation:
    path: Path | None = None  # a SQLite file
    dsn: str = ""  # a PostgreSQL URL

    @property
    def postgres(self) -> bool:
        return bool(self.dsn)

    def describe(self) -> str:
        """For messages: the file, or the URL without its password."""
        if self.path is not None:
            return str(self.path)
        parts = urllib.parse.urlsplit(self.dsn)
        if parts.password is None:
            return self.dsn
        host = parts.hostname or ""
        netloc = f"{parts.username or ''}:***@{host}" + (f":{parts.port}" if parts.port else "")
        return urllib.parse.urlunsplit(parts._replace(netloc=netloc))

    def is_default(self) -> bool:
        return (
            self.path is not None
            and not os.environ.get(ENVIRONMENT)
            and self.path.resolve() == default_path().resolve()
        )

    def exists(self) -> bool:
        return self.postgres or (self.path is not None and self.path.is_file())


def locate(value: str | Path | None, *, from_command_line: bool = True) -> StoreLocation:
    """The store named by ``--db`` (or the environment, or the default)."""
    if value == "" and from_command_line:
        raise InputError("--db is empty: name a SQLite file or a postgresql:// URL (or leave --db out for the default)")
    if value is None or value == "":
        env = os.environ.get(ENVIRONMENT)
        return locate(env, from_command_line=False) if env else StoreLocation(path=default_path())
    text = str(value)
    if text.startswith(POSTGRES_SCHEMES):
        try:
            password = urllib.parse.urlsplit(text).password
            urllib.parse.urlsplit(text).port  # noqa: B018 - a port that is not a number is refused here
        except ValueError as e:  # the URL itself is not echoed: it may hold a password
            raise InputError(f"--db is not a valid postgresql:// URL ({e})") from None
        if from_command_line and password is not None:
            raise InputError(
                "--db: a password on the command line can be read by any local user (ps, /proc); put it in "
                f"PGPASSWORD or ~/.pgpass, or give the whole URL in ${ENVIRONMENT}"
            )
        return StoreLocation(dsn=text)
    if "://" in text:
        raise InputError(f"--db takes a SQLite file or a postgresql:// URL, not {text.split('://', 1)[0]}://")
    path = Path(text).expanduser()
    if from_command_line and not path.parent.is_dir():  # a typo is not a new folder: as for every output
        raise InputError(f"--db {text}: the folder {path.parent} does not exist")
    return StoreLocation(path=path)
