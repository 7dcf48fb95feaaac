"""Static checks the project keeps green: types (mypy) and lint (ruff), settings in pyproject.toml."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("tool", [["mypy"], ["ruff", "check", "host", "device_agent", "tools", "tests"]], ids=["mypy", "ruff"])
def test_static_check_passes(tool):
    if shutil.which(tool[0], path=str(Path(sys.executable).parent)) is None:
        pytest.skip(f"{tool[0]} is not installed (pip install -e '.[test]')")
    proc = subprocess.run([str(Path(sys.executable).parent / tool[0]), *tool[1:]], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
