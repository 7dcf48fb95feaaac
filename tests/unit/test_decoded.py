"""Decoded image sets are kept while their files stay the same, and never trusted when damaged."""

from __future__ import annotations

import os

import numpy as np
import pytest
from PIL import Image

from host.cache import PRUNED
from host.data import decoded as decoded_module
from host.data import images as images_module
from host.data.decoded import FOLDER, decoded_image_set
from host.data.images import list_images, load_image_set


@pytest.fixture
def entries(tmp_path):
    folder = tmp_path / "photos"
    for label, colour in enumerate([(200, 40, 10), (10, 200, 40)]):
        (folder / f"class{label}").mkdir(parents=True)
        for i in range(3):
            pixels = np.full((20, 30, 3), colour, dtype=np.uint8)
            pixels[i, i] = 255
            Image.fromarray(pixels).save(folder / f"class{label}" / f"{i}.png")
    (folder / "class1" / "broken.png").write_bytes(b"not a png")
    return list_images(folder).entries


@pytest.fixture
def decodes(monkeypatch):
    """How many images were decoded (not read back from the cache)."""
    count = {"n": 0}
    real = images_module.decode_rgb

    def counted(*args, **kwargs):
        count["n"] += 1
        return real(*args, **kwargs)

    monkeypatch.setattr(images_module, "decode_rgb", counted)
    return count


def _same(a, b):
    assert a.sha256 == b.sha256 and a.skipped == b.skipped
    assert np.array_equal(a.images, b.images) and np.array_equal(a.labels, b.labels)


def test_a_set_is_decoded_once_and_read_back_equal_while_its_files_are_unchanged(tmp_path, entries, decodes):
    plain = load_image_set(entries, (8, 8))
    decodes["n"] = 0
    first = decoded_image_set(entries, (8, 8), folder=tmp_path / "cache")
    assert decodes["n"] == len(entries)
    again = decoded_image_set(entries, (8, 8), folder=tmp_path / "cache")
    assert decodes["n"] == len(entries), "the second call decoded again"
    _same(first, plain)
    _same(again, plain)
    assert len(again.skipped) == 1 and again.skipped[0].endswith("broken.png")


def test_an_edited_file_or_another_size_is_decoded_again(tmp_path, entries, decodes):
    decoded_image_set(entries, (8, 8), folder=tmp_path / "cache")
    decodes["n"] = 0
    decoded_image_set(entries, (6, 6), folder=tmp_path / "cache")
    assert decodes["n"] == len(entries)
    Image.fromarray(np.zeros((20, 30, 3), dtype=np.uint8)).save(entries[0].path)
    st = entries[0].path.stat()
    os.utime(entries[0].path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
    decodes["n"] = 0
    edited = decoded_image_set(entries, (8, 8), folder=tmp_path / "cache")
    assert decodes["n"] == len(entries)
    _same(edited, load_image_set(entries, (8, 8)))
    assert edited.images[0].max() == 0, "the edited file's new content"


def test_a_damaged_or_tampered_entry_is_decoded_again_not_trusted(tmp_path, entries, decodes):
    cache = tmp_path / "cache"
    decoded_image_set(entries, (8, 8), folder=cache)
    (kept,) = cache.glob("*.npz")
    with np.load(kept) as original:
        arrays = {name: original[name] for name in original.files}
    arrays["images"] = arrays["images"].copy()
    arrays["images"][0, 0, 0, 0] ^= 1  # content that no longer matches the recorded hash
    np.savez(kept, **arrays)
    plain = load_image_set(entries, (8, 8))
    decodes["n"] = 0
    _same(decoded_image_set(entries, (8, 8), folder=cache), plain)
    assert decodes["n"] == len(entries)
    kept.write_bytes(b"truncated")
    decodes["n"] = 0
    _same(decoded_image_set(entries, (8, 8), folder=cache), plain)
    assert decodes["n"] == len(entries)


def test_a_cache_folder_that_cannot_be_written_costs_only_the_decode(tmp_path, entries):
    blocked = tmp_path / "file-not-folder"
    blocked.write_text("")
    _same(decoded_image_set(entries, (8, 8), folder=blocked / "cache"), load_image_set(entries, (8, 8)))


def test_the_decoded_sets_are_pruned_with_the_other_caches():
    assert FOLDER in PRUNED
    assert decoded_module.DECODED_VERSION >= 1
