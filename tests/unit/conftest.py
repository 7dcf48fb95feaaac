"""The fast tier: no TensorFlow import, no subprocess, the whole folder in well under 30 s.

``pytest tests/unit`` is the inner loop. The guard below makes the promise checkable: starting
a subprocess fails the test that tried, and a session that ran only these tests fails if
TensorFlow was imported.
"""

from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.fixture(autouse=True)
def no_subprocess(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("the fast tier starts no subprocess: move this test to tests/integration")

    monkeypatch.setattr(subprocess.Popen, "__init__", refuse)


@pytest.fixture(scope="package", autouse=True)
def no_tensorflow():
    already = "tensorflow" in sys.modules  # imported by another tier in the same session
    yield
    if not already:
        assert "tensorflow" not in sys.modules, "a fast-tier test imported TensorFlow: move it to tests/integration"
