"""Probe answers kept across agent sessions, keyed by the probed file's identity."""

from __future__ import annotations

import os

from device_agent.serving.jobs import NOT_ANSWERED, answered
from device_agent.serving.probe_cache import FILE, ProbeCache, signature


class Probe:
    def __init__(self, answer):
        self.answer, self.calls = answer, 0

    def __call__(self):
        self.calls += 1
        return self.answer


def test_an_answer_is_kept_for_the_next_session_until_the_file_changes(tmp_path):
    library = tmp_path / "libaccel.so"
    library.write_bytes(b"one")
    probe = Probe(None)
    assert ProbeCache(tmp_path).get("litert:gpu", signature(library), probe, answered) is None
    assert ProbeCache(tmp_path).get("litert:gpu", signature(library), probe, answered) is None
    assert probe.calls == 1, "a fresh agent (a new cache object) reads the kept answer"
    library.write_bytes(b"two, longer")
    os.utime(library, ns=(1, 1))
    refused = Probe("dlopen failed: symbol missing")
    assert (
        ProbeCache(tmp_path).get("litert:gpu", signature(library), refused, answered) == "dlopen failed: symbol missing"
    )
    assert refused.calls == 1
    assert (
        ProbeCache(tmp_path).get("litert:gpu", signature(library), refused, answered) == "dlopen failed: symbol missing"
    )
    assert refused.calls == 1, "a loader's refusal is an answer too"


def test_a_probe_that_did_not_answer_is_asked_again(tmp_path):
    library = tmp_path / "lib.so"
    library.write_bytes(b"x")
    hung = Probe(f"{NOT_ANSWERED}did not finish within 30 s")
    for _ in range(2):
        ProbeCache(tmp_path).get("library:lib", signature(library), hung, answered)
    assert hung.calls == 2


def test_a_missing_file_or_a_damaged_cache_means_probing(tmp_path):
    probe = Probe(None)
    for _ in range(2):
        ProbeCache(tmp_path).get("library:x", signature(tmp_path / "absent.so"), probe, answered)
    assert probe.calls == 2
    (tmp_path / FILE).write_text("{not json")
    library = tmp_path / "lib.so"
    library.write_bytes(b"x")
    assert ProbeCache(tmp_path).get("library:lib", signature(library), probe, answered) is None
    assert probe.calls == 3
