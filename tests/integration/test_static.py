"""Static checks the project keeps green: types (mypy) and lint (ruff), settings in pyproject.toml.

Where the ``[test]`` extra is installed (it brings mypy and ruff), a missing tool is a failure,
not a skip: only an environment without the extra may skip these.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _test_extra_installed() -> bool:
    """Whether every other package of quantbench's [test] extra is installed."""
    try:
        requirements = metadata.requires("quantbench") or []
    except metadata.PackageNotFoundError:
        return False
    names = [re.split(r"[<>=!~ ;\[]", r, maxsplit=1)[0] for r in requirements if 'extra == "test"' in r]
    others = [n for n in names if n not in ("mypy", "ruff")]
    for name in others:
        try:
            metadata.version(name)
        except metadata.PackageNotFoundError:
            return False
    return bool(others)


@pytest.mark.parametrize(
    "tool",
    [["mypy"], ["ruff", "check", "host", "device_agent", "emulated_device", "tools", "tests"]],
    ids=["mypy", "ruff"],
)
def test_static_check_passes(tool):
    binary = shutil.which(tool[0], path=str(Path(sys.executable).parent))
    if binary is None:
        if _test_extra_installed():
            pytest.fail(f"the [test] extra is installed but {tool[0]} is not on {Path(sys.executable).parent}")
        pytest.skip(f"{tool[0]} is not installed (pip install -e '.[test]')")
    proc = subprocess.run([binary, *tool[1:]], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
