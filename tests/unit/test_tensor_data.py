"""Tensor samples (.npz/.npy) for models no image feeds: matched to inputs by name, shaped, typed,
packed for the device and read back by the agent's reader exactly."""

from __future__ import annotations

import numpy as np
import pytest

from device_agent.storage.dataset import TensorReader, open_dataset
from host.data.tensors import ModelInput, TensorSamples, is_tensor_data, match, pack_tensors
from host.errors import DatasetError

INPUTS = (
    ModelInput("serving_default_ids:0", "int32", (1, 4)),
    ModelInput("serving_default_window:0", "float32", (1, 6, 2)),
)


def test_arrays_are_found_by_any_of_the_inputs_names_and_given_their_batch_dimension():
    fed = match({"ids": np.arange(4, dtype=np.int64), "serving_default_window:0": np.ones((6, 2))}, INPUTS, "s")
    assert fed[0].dtype == np.int32 and fed[0].shape == (1, 4)
    assert fed[1].dtype == np.float32 and fed[1].shape == (1, 6, 2)
    only = match({"whatever": np.ones((1, 4))}, INPUTS[:1], "s")  # one input, one array: no name needed
    assert only[0].shape == (1, 4)


@pytest.mark.parametrize(
    "arrays, message",
    [
        ({"ids": np.zeros(4), "tokens": np.zeros((6, 2))}, "no array for input 'window'"),
        ({"ids": np.zeros(5), "window": np.zeros((6, 2))}, "is \\[5\\]; the input takes \\[1, 4\\]"),
        ({"ids": np.zeros(4), "window": np.full((6, 2), np.nan)}, "NaN or Inf"),
        ({"ids": np.zeros(4), "window": np.full((6, 2), "a")}, "not numbers"),
    ],
)
def test_samples_that_do_not_fit_the_inputs_are_refused(arrays, message):
    with pytest.raises(DatasetError, match=message):
        match(arrays, INPUTS, "s")


def test_a_folder_of_samples_packs_and_reads_back_exactly(tmp_path):
    rng = np.random.default_rng(0)
    folder = tmp_path / "samples"
    folder.mkdir()
    sent = []
    for i in range(5):
        ids, window = rng.integers(0, 9, 4), rng.normal(size=(6, 2)).astype(np.float32)
        np.savez(folder / f"{i}.npz", ids=ids, window=window)
        sent.append((ids, window))
    assert is_tensor_data(folder) and not is_tensor_data(tmp_path)
    packed = pack_tensors(TensorSamples(folder), INPUTS, 4, tmp_path / "out")
    assert packed.count == 4
    with open_dataset(packed.path, 0, batch=3) as reader:
        assert isinstance(reader, TensorReader)
        assert [s.name for s in reader.header.inputs] == [i.name for i in INPUTS]
        got = [(start, [a.copy() for a in arrays]) for start, arrays in reader.batches()]
    assert [start for start, _ in got] == [0, 3]
    ids = np.concatenate([arrays[0] for _, arrays in got])
    window = np.concatenate([arrays[1] for _, arrays in got])
    assert ids.shape == (4, 1, 4) and window.shape == (4, 1, 6, 2)
    for i in range(4):
        assert ids[i, 0].tolist() == sent[i][0].tolist() and np.array_equal(window[i, 0], sent[i][1])


def test_one_npz_holds_every_sample_on_its_first_axis(tmp_path):
    path = tmp_path / "all.npz"
    np.savez(path, ids=np.zeros((3, 4), np.int32), window=np.zeros((2, 6, 2), np.float32))
    with pytest.raises(DatasetError, match="as many of them"):
        TensorSamples(path)
    np.savez(path, ids=np.zeros((3, 4), np.int32), window=np.zeros((3, 6, 2), np.float32))
    assert TensorSamples(path).count == 3
    (tmp_path / "broken.npz").write_bytes(b"PK\x03\x04 not a zip")
    with pytest.raises(DatasetError, match="cannot read"):
        TensorSamples(tmp_path / "broken.npz")


def test_samples_whose_kinds_of_numbers_change_are_refused(tmp_path):
    folder = tmp_path / "mixed"
    folder.mkdir()
    np.save(folder / "0.npy", np.zeros(4, np.int64))  # token ids ...
    np.save(folder / "1.npy", np.zeros(4, np.float32))  # ... then floats for the same input
    with pytest.raises(DatasetError, match="same kinds of numbers"):
        pack_tensors(TensorSamples(folder), (ModelInput("ids", "int32", (1, 4)),), 2, tmp_path / "out")


def test_a_label_array_labels_the_samples_and_is_never_an_input(tmp_path):
    path = tmp_path / "labelled.npz"
    np.savez(path, ids=np.zeros((3, 4), np.int32), window=np.zeros((3, 6, 2), np.float32), label=np.array([2, 0, 1]))
    packed = pack_tensors(TensorSamples(path), INPUTS, 3, tmp_path / "out")
    assert packed.labels == (2, 0, 1)
    with open_dataset(packed.path) as reader:
        assert reader.labels().tolist() == [2, 0, 1]
    one = match({"x": np.zeros(4), "label": np.array(1)}, INPUTS[:1], "s")  # the label is not the one input's array
    assert one[0].shape == (1, 4)
    np.savez(path, ids=np.zeros((2, 4), np.int32), window=np.zeros((2, 6, 2), np.float32), label=np.array([0.5, 1.0]))
    with pytest.raises(DatasetError, match="one class index"):
        pack_tensors(TensorSamples(path), INPUTS, 2, tmp_path / "out")
