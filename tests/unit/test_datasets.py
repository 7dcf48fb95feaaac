"""Dataset layouts and slicing: ILSVRC labels, --limit, calibration kept apart from evaluation."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from host.data.datasets import slice_dataset
from host.errors import DatasetError
from tests.builders import write_image_folder


def _flat(root, count):
    root.mkdir()
    for i in range(count):
        Image.fromarray(np.full((8, 8, 3), i * 10, dtype=np.uint8)).save(
            root / f"ILSVRC2012_val_{i + 1:08d}.JPEG", quality=95
        )
    return root


def test_ilsvrc_layout_takes_labels_in_sorted_file_name_order(tmp_path):
    root = _flat(tmp_path / "val", 6)
    (tmp_path / "labels.txt").write_text("\n".join(str(v) for v in [5, 4, 3, 2, 1, 0]) + "\n")
    slices = slice_dataset(
        root, labels_file=tmp_path / "labels.txt", limit=None, calibration_count=2, take_calibration=False
    )
    assert [e.label for e in slices.evaluation] == [5, 4, 3, 2, 1, 0]
    assert [e.path.name for e in slices.evaluation] == sorted(p.name for p in root.iterdir())


def test_labels_count_must_match(tmp_path):
    root = _flat(tmp_path / "val", 3)
    (tmp_path / "labels.txt").write_text("1\n2\n")
    with pytest.raises(DatasetError, match="2 lines but the folder has 3"):
        slice_dataset(
            root, labels_file=tmp_path / "labels.txt", limit=None, calibration_count=1, take_calibration=False
        )


def test_calibration_slice_never_overlaps_evaluation_and_limit_applies_after(tmp_path):
    write_image_folder(tmp_path / "ds", classes=3, per_class=5)
    slices = slice_dataset(tmp_path / "ds", labels_file=None, limit=4, calibration_count=3, take_calibration=True)
    assert len(slices.calibration) == 3 and len(slices.evaluation) == 4
    assert not {e.path for e in slices.calibration} & {e.path for e in slices.evaluation}
    assert [e.label for e in slices.evaluation] == [0, 1, 2, 0], "classes interleaved so a limit keeps every class"
    with pytest.raises(DatasetError, match="too few"):
        slice_dataset(tmp_path / "ds", labels_file=None, limit=None, calibration_count=15, take_calibration=True)


def _packed_images(path, count=0):
    from device_agent.storage.dataset import DatasetReader

    with DatasetReader(path, count, batch=3) as reader:
        return np.concatenate([images.copy() for _, images in reader.batches()]), reader.labels()


def test_the_packed_file_is_deterministic_and_read_back_exactly(tmp_path):
    from host.data.images import load_image_set
    from host.data.packed import pack

    write_image_folder(tmp_path / "ds", classes=2, per_class=3)
    slices = slice_dataset(tmp_path / "ds", labels_file=None, limit=None, calibration_count=1, take_calibration=False)
    first = pack(slices.pool, 6, (8, 8), 1.0, tmp_path / "a", workers=1)
    second = pack(slices.pool, 6, (8, 8), 1.0, tmp_path / "b", workers=1)
    assert first.file_sha256 == second.file_sha256 and first.path.read_bytes() == second.path.read_bytes()
    images, labels = _packed_images(first.path)
    in_memory = load_image_set(slices.evaluation, (8, 8))
    assert np.array_equal(images, in_memory.images) and list(labels) == [0, 1, 0, 1, 0, 1]


def test_a_smaller_limit_reuses_the_packed_prefix_and_a_larger_one_decodes_only_the_rest(tmp_path, monkeypatch):
    from host.data import packed

    write_image_folder(tmp_path / "ds", classes=3, per_class=4)
    pool = slice_dataset(
        tmp_path / "ds", labels_file=None, limit=None, calibration_count=1, take_calibration=False
    ).pool
    decoded: list[int] = []
    real = packed._decode_chunk
    monkeypatch.setattr(
        packed, "_decode_chunk", lambda paths, size, crop: decoded.append(len(paths)) or real(paths, size, crop)
    )
    monkeypatch.setattr(packed, "CHUNK", 4)
    big = packed.pack(pool, 8, (8, 8), 1.0, tmp_path / "cache", workers=1)
    small = packed.pack(pool, 5, (8, 8), 1.0, tmp_path / "cache", workers=1)
    assert (small.file_sha256, small.count, sum(decoded)) == (big.file_sha256, 5, 8), "the prefix, no new copy"
    assert small.identity != big.identity, "a run of 5 images is not a run of 8"
    bigger = packed.pack(pool, 12, (8, 8), 1.0, tmp_path / "cache", workers=1)
    assert sum(decoded) == 12 and bigger.count == 12, "only the 4 new images were decoded"
    assert sorted(p.suffix for p in (tmp_path / "cache").iterdir()) == [".json", ".qbds"], "the shorter file is gone"
    fresh = packed.pack(pool, 8, (8, 8), 1.0, tmp_path / "fresh", workers=1)
    assert np.array_equal(_packed_images(bigger.path, 8)[0], _packed_images(fresh.path)[0]), (
        "copied images are the same"
    )


def test_unreadable_images_are_skipped_and_counted(tmp_path):
    from host.data.packed import pack

    write_image_folder(tmp_path / "ds", classes=2, per_class=3)
    broken = sorted((tmp_path / "ds" / "class_1").iterdir())[0]
    broken.write_bytes(b"not an image")
    slices = slice_dataset(tmp_path / "ds", labels_file=None, limit=None, calibration_count=1, take_calibration=False)
    result = pack(slices.pool, 6, (8, 8), 1.0, tmp_path / "c", workers=1)
    assert result.count == 5 and result.skipped == (str(broken),)
    assert list(_packed_images(result.path)[1]) == [0, 0, 1, 0, 1]


@pytest.mark.parametrize(
    ("labels", "words"),
    [
        ([5, 4, -7, 2], "labels.txt line 3: -7 is not a class index"),
        ([5, 4, "cat", 2], "labels.txt line 3: 'cat' is not a class index"),
    ],
)
def test_a_label_that_is_not_a_class_index_names_its_line(tmp_path, labels, words):
    root = _flat(tmp_path / "val", 4)
    (tmp_path / "labels.txt").write_text("\n".join(str(v) for v in labels) + "\n")
    with pytest.raises(DatasetError, match=words):
        slice_dataset(
            root, labels_file=tmp_path / "labels.txt", limit=None, calibration_count=1, take_calibration=False
        )


def test_labels_outside_the_model_s_classes_name_the_first_bad_line(tmp_path):
    from host.data.datasets import check_labels

    root = _flat(tmp_path / "val", 4)
    (tmp_path / "labels.txt").write_text("1\n2\n5000\n3\n")
    slices = slice_dataset(
        root, labels_file=tmp_path / "labels.txt", limit=None, calibration_count=1, take_calibration=False
    )
    check_labels(slices.evaluation, 5001, 0)
    with pytest.raises(DatasetError, match=r"labels.txt line 3: label 5000 is outside the model's 10 classes \(0..9\)"):
        check_labels(slices.evaluation, 10, 0)


def test_a_label_offset_that_pushes_labels_out_of_range(tmp_path):
    from host.data.datasets import check_labels

    write_image_folder(tmp_path / "ds", classes=3, per_class=2)
    slices = slice_dataset(tmp_path / "ds", labels_file=None, limit=None, calibration_count=1, take_calibration=False)
    check_labels(slices.evaluation, 3, 0)
    with pytest.raises(
        DatasetError, match=r"class folder 'class_2': label 2 \+ --label-offset 1 is outside the model's 3 classes"
    ):
        check_labels(slices.evaluation, 3, 1)


def test_an_empty_class_folder_keeps_its_index_so_later_labels_do_not_shift(tmp_path):
    from host.data.images import list_images

    for name in ("a_cat", "b_empty", "c_dog"):
        (tmp_path / name).mkdir()
    Image.new("RGB", (8, 8)).save(tmp_path / "a_cat" / "1.png")
    Image.new("RGB", (8, 8)).save(tmp_path / "c_dog" / "1.png")
    listing = list_images(tmp_path)
    assert listing.class_names == ("a_cat", "b_empty", "c_dog")
    assert [e.label for e in listing.entries] == [0, 2]  # the dog is class 2, as the model numbers it


def test_what_the_listing_can_tell_is_refused_before_a_device_starts(tmp_path):
    from host.data.datasets import check_listed

    write_image_folder(tmp_path / "ds", classes=3, per_class=2)
    slices = slice_dataset(tmp_path / "ds", labels_file=None, limit=None, calibration_count=1, take_calibration=False)
    check_listed(slices, 0)
    with pytest.raises(DatasetError, match=r"class folder 'class_0': label 0 \+ --label-offset -1 is negative"):
        check_listed(slices, -1)
    (tmp_path / "bad" / "cat").mkdir(parents=True)
    for i in range(3):
        (tmp_path / "bad" / "cat" / f"{i}.jpg").write_bytes(b"\xff\xd8 not a jpeg")
    broken = slice_dataset(tmp_path / "bad", labels_file=None, limit=None, calibration_count=1, take_calibration=False)
    with pytest.raises(DatasetError, match=r"no readable evaluation images in .*cat: 3 file\(s\) could not be decoded"):
        check_listed(broken, 0)
    Image.new("RGB", (9, 9)).save(
        tmp_path / "bad" / "cat" / "3.png"
    )  # one readable image is enough: the rest are skipped later
    check_listed(
        slice_dataset(tmp_path / "bad", labels_file=None, limit=None, calibration_count=1, take_calibration=False), 0
    )
