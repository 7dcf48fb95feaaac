"""Per-user folders for the cache and the results database (XDG, overridable by env)."""

from __future__ import annotations

import os
from pathlib import Path

from host import TOOL_NAME


def cache_dir() -> Path:
    override = os.environ.get("QUANTBENCH_CACHE_DIR")
    if override:
        return Path(override)
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / TOOL_NAME


def data_dir() -> Path:
    override = os.environ.get("QUANTBENCH_DATA_DIR")
    if override:
        return Path(override)
    return Path(os.environ.get("XDG_DATA_HOME", Path.home() / ".local" / "share")) / TOOL_NAME


def run_folder(run_id: str) -> Path:
    """Where a run's report.html and run.json go unless --report/--json name other files."""
    return data_dir() / "runs" / run_id
