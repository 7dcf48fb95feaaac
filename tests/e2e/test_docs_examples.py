"""The docs' shell examples marked runnable (``<!-- runnable -->`` before the fence) run as a
newcomer would type them, against the emulated device, each block in a fresh shell that stops
at the first command that fails."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.adb_fixtures import isolated_host

ROOT = Path(__file__).resolve().parents[2]
RUNNABLE = re.compile(r"<!-- runnable -->\n```(?:sh|bash)?\n(.*?)^```", re.M | re.S)


def runnable_blocks() -> list[tuple[str, str]]:
    blocks = []
    for page in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for i, block in enumerate(RUNNABLE.findall(page.read_text())):
            blocks.append((f"{page.name}#{i + 1}", block))
    return blocks


def test_there_are_runnable_examples():
    assert runnable_blocks(), "the docs mark at least one example runnable"


@pytest.mark.parametrize("name,block", runnable_blocks(), ids=[name for name, _ in runnable_blocks()])
def test_a_runnable_example_runs(tmp_path_factory, name, block):
    tmp_path = tmp_path_factory.mktemp("docs")  # short: the emulated device's sockets live under it
    bin_dir = str(Path(sys.executable).parent)
    with isolated_host(tmp_path):
        # this user's HOME: the private adb server holds this user's adb key, which the emulated device trusts
        env = {**os.environ, "PATH": f"{bin_dir}:{os.environ.get('PATH', '')}"}
        result = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", block],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
        )
    assert result.returncode == 0, f"{name}:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
