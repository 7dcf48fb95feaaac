"""The generated gRPC code is exactly what tools/gen_protos.py makes from protos/agent.proto."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_generated_code_matches_the_proto(tmp_path):
    subprocess.run([sys.executable, str(ROOT / "tools" / "gen_protos.py"), "--out", str(tmp_path)], check=True)
    checked_in = ROOT / "device_agent" / "_protos"
    names = sorted(p.name for p in tmp_path.iterdir() if p.is_file())
    assert names == sorted(p.name for p in checked_in.iterdir() if p.is_file() and p.suffix in (".py", ".pyi"))
    for name in names:
        assert (tmp_path / name).read_text() == (checked_in / name).read_text(), (
            f"{name} is stale: run python tools/gen_protos.py"
        )
