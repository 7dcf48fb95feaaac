"""mypy --strict (the pyproject's settings) on host, device_agent and emulated_device: the
foreign-library boundaries it relaxes are named there, module by module."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_code_type_checks_strictly(tmp_path):
    result = subprocess.run([sys.executable, "-m", "mypy", "--cache-dir", str(tmp_path / "cache")], cwd=ROOT,
                            capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "strict = true" in (ROOT / "pyproject.toml").read_text()
