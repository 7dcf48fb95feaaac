"""The emulated phone's software drivers: OpenVINO's precision is asked once per installation."""

from __future__ import annotations

from pathlib import Path

import pytest

from emulated_device import drivers


@pytest.fixture
def openvino(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An installed OpenVINO's package folder (its __init__.py), with a fresh user data folder."""
    monkeypatch.setenv("QUANTBENCH_DATA_DIR", str(tmp_path / "data"))
    package = tmp_path / "openvino"
    package.mkdir()
    (package / "__init__.py").write_text("# one release\n")
    return package


def asking(monkeypatch: pytest.MonkeyPatch, answer: str) -> list[str]:
    """Each time OpenVINO itself is asked, noted; it answers ``answer``."""
    asked: list[str] = []
    monkeypatch.setattr(drivers, "_openvino_cpu_precision", lambda: asked.append("asked") or answer)
    return asked


def test_openvino_is_asked_its_precision_once_and_again_when_it_is_reinstalled(openvino, monkeypatch):
    asked = asking(monkeypatch, "bf16")
    assert drivers._known_precision(openvino) == "bf16"
    assert drivers._known_precision(openvino) == "bf16"
    assert len(asked) == 1

    (openvino / "__init__.py").write_text("# another release, another size\n")
    assert drivers._known_precision(openvino) == "bf16"
    assert len(asked) == 2


def test_an_openvino_that_cannot_say_is_asked_again_and_labelled_unknown(openvino, monkeypatch):
    asked = asking(monkeypatch, "")
    assert drivers._known_precision(openvino) == ""
    assert drivers._known_precision(openvino) == ""
    assert len(asked) == 2  # nothing kept: a later start asks again
