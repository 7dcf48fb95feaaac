"""Build the agent as one reproducible zipapp file (``python agent.pyz serve ...``).

Only the ``device_agent`` package goes in; the device needs numpy, grpcio, protobuf and a TFLite
runtime. Entries are sorted and stamped with a fixed time, so the same sources give the same
bytes and the deployer can skip pushing an unchanged agent by its hash.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import zipfile
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent
_FIXED_TIME = (2020, 1, 1, 0, 0, 0)
_MAIN = "import sys\nfrom device_agent.__main__ import main\nsys.exit(main())\n"


def build_zipapp(target: Path) -> str:
    """Write the zipapp to ``target`` and return its sha256."""
    files = sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)
    target.parent.mkdir(parents=True, exist_ok=True)
    # a unique temporary name: several devices may build at once; the rename is atomic
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=".agent-", suffix=".tmp")
    os.close(fd)
    tmp = Path(tmp_name)
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(zipfile.ZipInfo("__main__.py", _FIXED_TIME), _MAIN)
        for path in files:
            info = zipfile.ZipInfo(f"device_agent/{path.relative_to(PACKAGE).as_posix()}", _FIXED_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, path.read_bytes())
    data = tmp.read_bytes()
    tmp.replace(target)
    return hashlib.sha256(data).hexdigest()
