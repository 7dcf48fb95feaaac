"""A real PostgreSQL server from Debian's package, started for the tests in a throwaway cluster.

PostgreSQL refuses to run as root: as root (CI), the cluster belongs to the ``postgres`` user the
package creates. Without the package the tests that need it skip, saying so.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from host.devices.transport.adb import free_local_port

USER = "quantbench"


def server_binaries() -> Path | None:
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"), key=lambda p: int(p.parent.parent.name))
    return versions[-1].parent if versions else None


def _as_owner(owner: str | None, argv: list[str]) -> list[str]:
    return ["runuser", "-u", owner, "--", *argv] if owner else argv


_CLUSTERS: dict[str, tuple[Path, Path, str | None, str, Path]] = {}  # server URL -> binaries, data, owner, options, log


def pg_ctl(server_url: str, action: str, *extra: str) -> None:
    """``pg_ctl start|stop|restart`` on the cluster behind ``server_url`` (from postgres_server), waiting for it."""
    binaries, data, owner, options, log = _CLUSTERS[server_url]
    subprocess.run(
        _as_owner(
            owner,
            [
                str(binaries / "pg_ctl"),
                "-D",
                str(data),
                "-o",
                options,
                "-l",
                str(log),
                "-w",
                "-t",
                "60",
                *extra,
                action,
            ],
        ),
        check=True,
        capture_output=True,
        timeout=120,
    )


def server_or_skip() -> Iterator[str]:
    """A module fixture's body: a server of its own for the module, or a skip saying why there is none."""
    import pytest

    try:
        with postgres_server() as url:
            yield url
    except LookupError as e:
        pytest.skip(str(e))


@contextmanager
def postgres_server() -> Iterator[str]:
    """A running server; yields the URL of its maintenance database (trust auth on 127.0.0.1)."""
    binaries = server_binaries()
    if binaries is None:
        raise LookupError("Debian's postgresql package is not installed (apt-get install postgresql)")
    owner = None
    if os.geteuid() == 0:
        try:
            owner = pwd.getpwnam("postgres").pw_name
        except KeyError as e:
            raise LookupError("running as root and there is no postgres user to own the cluster") from e
    folder = Path(tempfile.mkdtemp(prefix="qb-postgres-"))
    data, port = folder / "data", free_local_port()
    if owner:
        shutil.chown(folder, owner)
    try:
        subprocess.run(
            _as_owner(owner, [str(binaries / "initdb"), "-D", str(data), "-U", USER, "--auth=trust", "-E", "UTF8"]),
            check=True,
            capture_output=True,
            timeout=120,
        )
        options = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=50"
        subprocess.run(
            _as_owner(
                owner,
                [
                    str(binaries / "pg_ctl"),
                    "-D",
                    str(data),
                    "-o",
                    options,
                    "-l",
                    str(folder / "log"),
                    "-w",
                    "-t",
                    "60",
                    "start",
                ],
            ),
            check=True,
            capture_output=True,
            timeout=120,
        )
        url = f"postgresql://{USER}@127.0.0.1:{port}/postgres"
        _CLUSTERS[url] = (binaries, data, owner, options, folder / "log")
        try:
            yield url
        finally:
            _CLUSTERS.pop(url, None)
            subprocess.run(
                _as_owner(owner, [str(binaries / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]),
                capture_output=True,
                timeout=60,
                check=False,
            )
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def fresh_database(server_url: str) -> str:
    """A new empty database on the server; its URL."""
    import psycopg

    name = "qb_" + uuid.uuid4().hex[:12]
    with psycopg.connect(server_url, autocommit=True) as db:
        db.execute(f"CREATE DATABASE {name}")
    return server_url.rsplit("/", 1)[0] + "/" + name
