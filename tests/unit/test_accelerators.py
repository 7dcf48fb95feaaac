"""GPU/NPU through LiteRT, the parts that need no device: backends, releases, manifests, numerics."""

from __future__ import annotations

import hashlib
import json
import struct
from pathlib import Path

import numpy as np
import pytest

from device_agent.engines import accelerators, elf
from device_agent.engines.backends import (
    BackendError,
    BackendUnavailable,
    PlatformFacts,
    parse_backend,
    platform_availability,
    uses_litert,
)
from device_agent.measuring.evaluate import Scorer
from host.devices.launch import litert
from host.errors import InputError


def fake_library(path: Path, machine: int) -> Path:
    """A file whose ELF header names ``machine`` (all that provisioning reads; never loaded)."""
    header = bytearray(64)
    header[:6] = b"\x7fELF\x02\x01"
    struct.pack_into("<H", header, 18, machine)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(bytes(header))
    return path


def test_backends_gpu_fp32_and_npu_run_through_litert_unless_a_classic_gpu_delegate_is_given():
    assert parse_backend("gpu-fp32").kind == "gpu" and parse_backend("npu").kind == "npu"
    assert (
        uses_litert(parse_backend("gpu"))
        and uses_litert(parse_backend("npu"))
        and uses_litert(parse_backend("gpu-fp32"))
    )
    assert not uses_litert(parse_backend("gpu"), gpu_delegate="/data/local/tmp/libtensorflowlite_gpu_delegate.so")
    assert not uses_litert(parse_backend("cpu4"))
    with pytest.raises(BackendError, match="gpu-fp32, npu or nnapi"):
        parse_backend("tpu")


def test_an_emulated_device_without_a_software_vulkan_names_the_package_for_its_gpu():
    facts = PlatformFacts(
        True, 34, True, "Android 14 (SDK 34)", software_gpu="", missing_gpu="install Debian's chromium"
    )
    available, reason = platform_availability(parse_backend("gpu"), facts)
    assert not available and "no software Vulkan" in reason and "chromium" in reason
    assert platform_availability(parse_backend("npu"), facts) == (True, "")


def test_the_scorer_counts_nan_inf_and_all_zero_outputs_with_the_first_image():
    scorer = Scorer(np.array([0, 1, 2, 3, 0, 1]))
    scorer.add(np.array([[0.9, 0.1], [0.2, 0.8], [0.5, 0.5]], dtype=np.float32))
    assert not scorer.numerics().bad
    scorer.add(np.array([[np.nan, 0.1], [np.inf, -np.inf], [0.0, 0.0]], dtype=np.float32))
    numerics = scorer.numerics()
    assert (numerics.nan_values, numerics.inf_values, numerics.zero_vectors, numerics.first_image) == (1, 2, 1, 3)
    assert (
        numerics.bad
        and numerics.describe() == "1 NaN outputs, 2 Inf outputs, 1 all-zero output vectors (first at image 3)"
    )


def test_elf_machine_and_needed_libraries_are_read_without_loading(tmp_path):
    assert elf.machine(fake_library(tmp_path / "a.so", 183).read_bytes()) == "aarch64"
    assert elf.machine(fake_library(tmp_path / "b.so", 62).read_bytes()) == "x86_64"
    with pytest.raises(elf.NotElf):
        elf.machine(b"not a library at all, just some text")


def test_a_release_names_its_version_and_files_and_a_wrong_abi_is_refused_by_name(tmp_path):
    release_dir = tmp_path / "binaries" / "2.3.1" / "android_arm64"
    for name in (
        "libLiteRt.so",
        "libLiteRtClGlAccelerator.so",
        "qnn/libLiteRtDispatch_Qualcomm.so",
        "qnn/libLiteRtCompilerPlugin_Qualcomm.so",
    ):
        fake_library(release_dir / name, 183)
    release = litert.find_release(release_dir)
    assert release.version == "2.3.1" and release.machine == "aarch64"
    assert set(release.files) == {
        "libLiteRt.so",
        "libLiteRtClGlAccelerator.so",
        "dispatch/libLiteRtDispatch_Qualcomm.so",
        "compiler/libLiteRtCompilerPlugin_Qualcomm.so",
    }
    litert.check_abi(release, "arm64-v8a", "R58M")
    with pytest.raises(InputError, match=r"R58M is x86_64 \(x86_64\) but libLiteRt.so in .* is aarch64"):
        litert.check_abi(release, "x86_64", "R58M")


def test_a_release_that_mixes_platforms_or_does_not_say_its_version_is_refused(tmp_path):
    fake_library(tmp_path / "mixed" / "libLiteRt.so", 183)
    fake_library(tmp_path / "mixed" / "libLiteRtClGlAccelerator.so", 62)
    with pytest.raises(InputError, match="mixes platforms.*libLiteRtClGlAccelerator.so \\(x86_64\\)"):
        litert.find_release(tmp_path / "mixed", "2.3.0")
    fake_library(tmp_path / "plain" / "libLiteRt.so", 183)
    with pytest.raises(InputError, match="pass --litert-version"):
        litert.find_release(tmp_path / "plain")
    with pytest.raises(InputError, match="has no libLiteRt.so"):
        litert.find_release(tmp_path)


def _provisioned(tmp_path: Path, version: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "litert"
    folder.mkdir()
    (folder / "litert.json").write_text(json.dumps({"version": version, "files": {"libLiteRt.so": "0" * 64}}))
    monkeypatch.setenv(accelerators.LITERT_DIR_ENV, str(folder))
    return folder


def test_an_unknown_litert_version_makes_the_backend_unusable_with_both_versions_named(tmp_path, monkeypatch):
    _provisioned(tmp_path, "9.9.0", monkeypatch)
    with pytest.raises(
        BackendUnavailable, match=r"LiteRT 9\.9\.0 is installed; this agent's C API binding knows LiteRT 2\.3"
    ):
        accelerators.installed(tmp_path / "root")


def test_no_litert_says_how_to_provision_and_a_known_one_without_an_npu_says_what_is_missing(tmp_path, monkeypatch):
    monkeypatch.setenv(accelerators.LITERT_DIR_ENV, str(tmp_path / "nothing"))
    with pytest.raises(BackendUnavailable, match="host provision --litert DIR"):
        accelerators.installed(tmp_path / "root")
    _provisioned(tmp_path, "2.3.0", monkeypatch)
    setup = accelerators.installed(tmp_path / "root")
    with pytest.raises(BackendUnavailable, match="no NPU dispatch library"):
        accelerators.plan(parse_backend("npu"), setup)
    with pytest.raises(BackendUnavailable, match="no GPU accelerator"):
        accelerators.plan(parse_backend("gpu"), setup)


def test_a_provisioned_file_that_changed_is_refused_before_it_is_loaded(tmp_path, monkeypatch):
    folder = _provisioned(tmp_path, "2.3.0", monkeypatch)
    (folder / "libLiteRt.so").write_bytes(b"half a copy")
    with pytest.raises(BackendUnavailable, match="differs from what was provisioned"):
        accelerators.verify(accelerators.installed(tmp_path / "root"), ["libLiteRt.so"])


def test_an_unchanged_file_is_hashed_once_and_a_rewritten_one_again(tmp_path, monkeypatch):
    folder = _provisioned(tmp_path, "2.3.0", monkeypatch)
    library = folder / "libLiteRt.so"
    library.write_bytes(b"the library")
    manifest = {"version": "2.3.0", "files": {"libLiteRt.so": hashlib.sha256(b"the library").hexdigest()}}
    (folder / "litert.json").write_text(json.dumps(manifest))
    hashed: list[Path] = []
    real = accelerators._sha256
    monkeypatch.setattr(accelerators, "_sha256", lambda path: hashed.append(path) or real(path))
    for _ in range(3):
        accelerators.verify(accelerators.installed(tmp_path / "root"), ["libLiteRt.so"])
    assert hashed == [library], "later workers trust the recorded stat of the file they found as provisioned"
    library.write_bytes(b"the librarX")  # same size; only its times and bytes differ
    with pytest.raises(BackendUnavailable, match="differs from what was provisioned"):
        accelerators.verify(accelerators.installed(tmp_path / "root"), ["libLiteRt.so"])
    assert len(hashed) == 2, "a rewritten file is hashed again, not trusted by its old record"
