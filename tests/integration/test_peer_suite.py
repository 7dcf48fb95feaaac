"""adbutils' own end-to-end suite against the emulated device, as a second opinion on its faithfulness.

The suite comes from the sdist of the adbutils version installed (``.ci/run`` downloads it into
``.peer/``, as pip downloads any package; nothing is fetched at test time). It runs in a network
namespace of its own (its adb server is hard-wired to 127.0.0.1:5037), against an emulated Termux
phone. The tests that need a screen, the app framework or USB are deselected, each with its reason
(``tests/peer_suite.py``); every other one must pass, and must pass *with its commands succeeding*:
no command the suite ran may have exited 126 or 127 (a command the phone lacks), which adbutils'
``shell()`` would not notice.
"""

from __future__ import annotations

import importlib.metadata
import os
import shutil
import subprocess
import sys
import tarfile
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tests.peer_suite import NOT_EMULATED

ROOT = Path(__file__).resolve().parents[2]
VERSION = importlib.metadata.version("adbutils")
SDIST = Path(os.environ.get("QUANTBENCH_PEER_DIR", ROOT / ".peer")) / f"adbutils-{VERSION}.tar.gz"


@pytest.mark.skipif(
    not SDIST.is_file(),
    reason=f"no {SDIST.name}: pip download --no-deps --no-binary :all: adbutils=={VERSION} -d .peer (.ci/run does)",
)
@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("ip"), reason="a network namespace needs root and iproute2")
def test_adbutils_e2e_suite_passes_against_the_emulated_device(tmp_path):
    with tarfile.open(SDIST) as archive:
        members = [m for m in archive.getmembers() if "/e2etests/" in m.name and m.isfile()]
        archive.extractall(tmp_path, members=members)  # noqa: S202 (the sdist of an installed package)
    e2e = next(tmp_path.glob("adbutils-*/e2etests"))
    out = tmp_path / "out"
    out.mkdir()
    script = f"ip link set lo up && exec {sys.executable} -m tests.peer_suite {e2e} {out}"
    done = subprocess.run(
        ["unshare", "--net", "sh", "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=1200
    )
    report = out / "junit.xml"
    assert report.is_file(), done.stdout[-3000:] + done.stderr[-3000:]
    suite = ET.parse(report).getroot()
    suite = suite if suite.tag == "testsuite" else suite[0]
    counts = {k: int(suite.get(k, 0)) for k in ("tests", "failures", "errors", "skipped")}
    failed = [
        f"{case.get('classname')}::{case.get('name')}"
        for case in suite.iter("testcase")
        if case.find("failure") is not None or case.find("error") is not None
    ]
    assert counts["failures"] == counts["errors"] == 0, f"{failed}\n{done.stdout[-4000:]}"
    assert counts["tests"] - counts["skipped"] >= 20, counts
    not_found = [
        line for line in (out / "commands.log").read_text().splitlines() if line.split("\t")[0] in ("126", "127")
    ]
    assert not not_found, f"the suite ran commands the phone lacks: {not_found}"
    assert len(NOT_EMULATED) == 21
