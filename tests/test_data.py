"""The datasets: sklearn's digits split and MNIST IDX files, good and bad."""
import gzip

import numpy as np
import pytest

from flow.data import dataset_for_shape, load_digits_split, load_mnist_split, read_idx
from flow.errors import FlowError


def test_digits_split_is_fixed_and_disjoint():
    train, test = load_digits_split("train"), load_digits_split("test")
    assert train.images.shape[1:] == (1, 8, 8) and len(train.labels) + len(test.labels) == 1797
    assert 0.0 <= train.images.min() and train.images.max() <= 1.0
    assert np.array_equal(test.images, load_digits_split("test").images)
    train_rows = {row.tobytes() for row in train.images}
    assert sum(row.tobytes() in train_rows for row in test.images) < 10  # only genuine duplicate digits


def test_mnist_idx_loader_on_the_original_files(shared_dir):
    split = load_mnist_split("test", shared_dir / "data" / "mnist")
    assert split.images.shape == (10000, 1, 28, 28) and split.images.dtype == np.float32
    assert split.labels.shape == (10000,) and set(np.unique(split.labels)) == set(range(10))
    assert split.labels[:5].tolist() == [7, 2, 1, 0, 4]  # the well-known first MNIST test labels


def test_truncated_idx_is_refused(tmp_path, shared_dir):
    raw = gzip.open(shared_dir / "data" / "mnist" / "t10k-labels-idx1-ubyte.gz").read()
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(raw[:5000])
    with pytest.raises(FlowError, match="header promises 10000"):
        read_idx(tmp_path / "t10k-labels-idx1-ubyte")


def test_non_idx_file_is_refused(tmp_path):
    (tmp_path / "x.gz").write_bytes(gzip.compress(b"\x12\x34\x56\x78" + bytes(100)))
    with pytest.raises(FlowError, match="bad magic"):
        read_idx(tmp_path / "x.gz")


def test_missing_mnist_dir_says_pass_data_dir(tmp_path):
    with pytest.raises(FlowError, match="--data-dir"):
        load_mnist_split("test", tmp_path)


def test_dataset_matches_input_shape():
    assert dataset_for_shape((1, 28, 28)) == "mnist"
    assert dataset_for_shape((784,)) == "mnist"
    assert dataset_for_shape((1, 8, 8)) == "digits"
    assert dataset_for_shape((16,)) is None
