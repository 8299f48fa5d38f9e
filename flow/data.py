"""Datasets the flow trains and verifies on: sklearn's bundled 8x8 digits and MNIST IDX files."""
from __future__ import annotations

import gzip
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import FlowError

IDX_UBYTE = 0x08
MNIST_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
DIGITS_TEST_FRACTION = 0.2
DIGITS_SPLIT_SEED = 0


@dataclass(frozen=True)
class Split:
    """Images scaled to [0, 1] as float32, NCHW with one channel, and integer labels."""

    images: np.ndarray
    labels: np.ndarray


def load_digits_split(part: str) -> Split:
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = (digits.images / 16.0).astype(np.float32)[:, None]
    order = np.random.default_rng(DIGITS_SPLIT_SEED).permutation(len(images))
    n_test = int(round(len(images) * DIGITS_TEST_FRACTION))
    chosen = order[:n_test] if part == "test" else order[n_test:]
    return Split(images[chosen], digits.target[chosen].astype(np.int64))


def read_idx(path: Path) -> np.ndarray:
    """Parse one IDX file (optionally gzipped) into a uint8 array of its stated shape."""
    try:
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rb") as handle:
            raw = handle.read()
    except (OSError, EOFError) as exc:
        raise FlowError(f"cannot read MNIST file {path} ({exc}); re-download the original IDX files") from None
    if len(raw) < 4:
        raise FlowError(f"MNIST file {path} is truncated; re-download the original IDX files")
    zero, dtype_code, n_dims = struct.unpack(">HBB", raw[:4])
    if zero != 0 or dtype_code != IDX_UBYTE or not 1 <= n_dims <= 3:
        raise FlowError(f"{path} is not an unsigned-byte IDX file (bad magic); re-download the original IDX files")
    header_end = 4 + 4 * n_dims
    shape = struct.unpack(f">{n_dims}I", raw[4:header_end])
    expected = int(np.prod(shape))
    if len(raw) - header_end != expected:
        raise FlowError(
            f"MNIST file {path} holds {len(raw) - header_end} bytes of data, its header promises {expected}; "
            "re-download the original IDX files"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header_end).reshape(shape)


def _find_idx(data_dir: Path, stem: str) -> Path:
    for candidate in (data_dir / f"{stem}.gz", data_dir / stem):
        if candidate.is_file():
            return candidate
    raise FlowError(f"MNIST file {stem}[.gz] not found in {data_dir}; pass --data-dir pointing at the MNIST IDX files")


def load_mnist_split(part: str, data_dir: Path) -> Split:
    images_stem, labels_stem = MNIST_FILES[part]
    images = read_idx(_find_idx(Path(data_dir), images_stem))
    labels = read_idx(_find_idx(Path(data_dir), labels_stem))
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise FlowError(f"MNIST files in {data_dir} disagree: images {images.shape}, labels {labels.shape}")
    return Split((images.astype(np.float32) / 255.0)[:, None], labels.astype(np.int64))


DATASET_IMAGE_SHAPES = {"digits": (1, 8, 8), "mnist": (1, 28, 28)}


def dataset_for_shape(chw: tuple[int, ...]) -> str | None:
    """The dataset whose images fit a model input of this (C, H, W) or flat size, if any."""
    for name, shape in DATASET_IMAGE_SHAPES.items():
        if tuple(chw) == shape or tuple(chw) == (int(np.prod(shape)),):
            return name
    return None


def load_test_split(name: str, data_dir: Path | None) -> Split:
    if name == "digits":
        return load_digits_split("test")
    if data_dir is None:
        raise FlowError("this model takes MNIST-sized input; pass --data-dir pointing at the MNIST IDX files")
    return load_mnist_split("test", data_dir)
