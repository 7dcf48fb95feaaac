"""The emulated phone's software drivers: OpenVINO's precision is asked once per installation."""

from __future__ import annotations

from host.emulator import drivers


def test_openvino_is_asked_its_precision_once_and_again_when_it_is_reinstalled(tmp_path, monkeypatch):
    monkeypatch.setenv("QUANTBENCH_DATA_DIR", str(tmp_path / "data"))
    package = tmp_path / "openvino"
    package.mkdir()
    (package / "__init__.py").write_text("# one release\n")
    asked: list[str] = []
    monkeypatch.setattr(drivers, "_openvino_cpu_precision", lambda: asked.append("asked") or "bf16")

    assert drivers._known_precision(package) == "bf16"
    assert drivers._known_precision(package) == "bf16"
    assert len(asked) == 1

    (package / "__init__.py").write_text("# another release, another size\n")
    assert drivers._known_precision(package) == "bf16"
    assert len(asked) == 2


def test_an_openvino_that_cannot_say_is_asked_again_and_labelled_unknown(tmp_path, monkeypatch):
    monkeypatch.setenv("QUANTBENCH_DATA_DIR", str(tmp_path / "data"))
    package = tmp_path / "openvino"
    package.mkdir()
    (package / "__init__.py").write_text("")
    asked: list[str] = []
    monkeypatch.setattr(drivers, "_openvino_cpu_precision", lambda: asked.append("asked") or "")

    assert drivers._known_precision(package) == ""
    assert drivers._known_precision(package) == ""
    assert len(asked) == 2  # nothing kept: a later start asks again
