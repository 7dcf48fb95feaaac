"""Image decoding: every colour mode becomes RGB; corrupt files are skipped and counted."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from host.data.images import list_images, load_folder, round_robin
from host.data.preprocess import PRESETS, get_preset
from host.errors import DatasetError, InputError
from tools.bad_input_sweep import bomb_png


def _write_modes(folder):
    folder.mkdir(parents=True, exist_ok=True)
    base = Image.fromarray(np.full((20, 30, 3), (200, 40, 10), dtype=np.uint8))
    base.convert("L").save(folder / "a_gray.png")
    base.convert("RGBA").save(folder / "b_rgba.png")
    base.convert("P").save(folder / "c_palette.png")
    base.convert("CMYK").save(folder / "d_cmyk.jpg")
    base.save(folder / "e_rgb.jpg")
    (folder / "f_corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    data = (folder / "e_rgb.jpg").read_bytes()
    (folder / "g_truncated.jpg").write_bytes(data[: len(data) // 3])


def test_every_colour_mode_becomes_rgb_and_corrupt_files_are_counted(tmp_path):
    _write_modes(tmp_path / "flat")
    images = load_folder(tmp_path / "flat", (16, 16))
    assert images.images.shape[1:] == (16, 16, 3)
    assert images.images.dtype == np.uint8
    assert {p.rsplit("/", 1)[-1] for p in images.skipped} >= {"f_corrupt.jpg"}
    assert images.count + len(images.skipped) == 7
    assert images.count >= 5
    gray = images.images[0]
    assert np.allclose(gray[..., 0], gray[..., 1]), "grayscale must be replicated to 3 equal channels"
    assert (images.labels == -1).all(), "a flat folder has no labels"


def test_class_subfolders_give_sorted_labels_and_round_robin_covers_classes(tmp_path):
    from tests.builders import write_image_folder

    write_image_folder(tmp_path / "ds", classes=3, per_class=4)
    listing = list_images(tmp_path / "ds")
    assert listing.class_names == ("class_0", "class_1", "class_2")
    first = round_robin(listing.entries)[:3]
    assert [e.label for e in first] == [0, 1, 2]


def test_same_images_give_same_hash_and_different_images_differ(tmp_path):
    from tests.builders import write_image_folder

    a = load_folder(write_image_folder(tmp_path / "a", seed=1), (8, 8))
    b = load_folder(write_image_folder(tmp_path / "b", seed=1), (8, 8))
    c = load_folder(write_image_folder(tmp_path / "c", seed=2), (8, 8))
    assert a.sha256 == b.sha256 != c.sha256


def test_empty_and_unreadable_folders_are_clear_errors(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="no images"):
        list_images(tmp_path / "empty")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "x.png").write_bytes(b"garbage")
    with pytest.raises(DatasetError, match="no readable"):
        load_folder(tmp_path / "bad", (8, 8))
    with pytest.raises(DatasetError, match="does not exist"):
        list_images(tmp_path / "missing")


def test_presets_match_their_formulas():
    pixels = np.array([[[[0, 127, 255]]]], dtype=np.uint8)
    assert np.allclose(get_preset("mobilenet").apply(pixels), [-1.0, 127 / 127.5 - 1, 1.0])
    assert np.allclose(get_preset("unit").apply(pixels), [0.0, 127 / 255, 1.0])
    assert np.allclose(get_preset("caffe").apply(pixels)[..., 0], 255 - 103.939)
    assert set(PRESETS) >= {"mobilenet", "unit", "caffe", "torch"}
    with pytest.raises(InputError):
        get_preset("nope")


def test_calibration_images_are_preprocessed_only_when_a_converter_asks_for_them():
    from host.convert.calibration import representative_dataset_of
    from host.data.images import ImageSet

    calls: list[int] = []
    images = np.arange(2 * 4 * 4 * 3, dtype=np.uint8).reshape(2, 4, 4, 3)

    def preprocess(batch: np.ndarray) -> np.ndarray:
        calls.append(len(batch))
        return batch.astype(np.float32) / 255.0

    dataset = representative_dataset_of(ImageSet(images, np.zeros(2, np.int32), "sha"), preprocess)
    assert calls == []  # a run whose builds all come from the cache never pays for it
    first = [sample[0] for sample in dataset()]
    again = [sample[0] for sample in dataset()]
    assert calls == [2]  # once, however many builds read it
    assert [s.shape for s in first] == [(1, 4, 4, 3)] * 2
    assert all(np.array_equal(a, b) for a, b in zip(first, again, strict=True))
    assert np.allclose(first[1], images[1:2] / 255.0)


@pytest.mark.parametrize("side", [20000, 10000])  # past twice Pillow's limit (an error), and past it (a warning)
def test_a_decompression_bomb_among_good_images_is_skipped_and_alone_is_a_clear_error(tmp_path, side):
    folder = tmp_path / "images"
    folder.mkdir()
    (folder / "bomb.png").write_bytes(bomb_png(side))
    with pytest.raises(DatasetError, match="no readable images"):
        load_folder(folder, (8, 8))
    for i in range(4):
        Image.new("RGB", (16, 16), (i * 40, 0, 0)).save(folder / f"ok{i}.png")
    loaded = load_folder(folder, (8, 8))
    assert loaded.count == 4 and [p.rsplit("/", 1)[-1] for p in loaded.skipped] == ["bomb.png"]
