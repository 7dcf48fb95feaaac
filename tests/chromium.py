"""Headless Chromium for the report tests: its DOM after load, screenshots, and how far a page
overflows a window of a given width (a phone's 390 px is under Chromium's smallest window, so
the page is laid out in an iframe of that width)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--allow-file-access-from-files",
    "--virtual-time-budget=5000",
)


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if not found:
        pytest.skip("no Chromium installed (CI installs Debian's chromium)")
    return found


def _base(profile: Path) -> list[str]:
    return [chromium(), *FLAGS, f"--user-data-dir={profile}"]


def dom(page: Path, profile: Path, width: int = 1280) -> str:
    return subprocess.run(
        [*_base(profile), f"--window-size={width},2400", "--dump-dom", page.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout


def _frame(page: Path, width: int) -> Path:
    """A page holding ``page`` in an iframe ``width`` px wide that records the frame's overflow."""
    frame = page.with_name(f"{page.stem}-at-{width}.html")
    frame.write_text(
        f'<!doctype html><html><body style="margin:0"><iframe id="f" src="{page.name}" '
        f'style="width:{width}px;height:2400px;border:0"></iframe><script>'
        "document.getElementById('f').addEventListener('load',function(){var d=this.contentDocument.documentElement;"
        "document.body.setAttribute('data-overflow-px',Math.max(0,d.scrollWidth-d.clientWidth));});</script></body></html>"
    )
    return frame


def overflow_px(page: Path, profile: Path, width: int) -> int:
    """How many pixels wider than ``width`` the page lays out (0: no horizontal scrolling)."""
    found = re.search(r'data-overflow-px="(\d+)"', dom(_frame(page, width), profile))
    assert found, "the frame did not load the page"
    return int(found.group(1))


def screenshot(page: Path, profile: Path, width: int, out: Path) -> Path:
    subprocess.run(
        [*_base(profile), f"--screenshot={out}", f"--window-size={max(width, 500)},2400", _frame(page, width).as_uri()],
        capture_output=True,
        timeout=120,
    )
    return out
