"""MNIST study data (docs/method.md, "MNIST study"): standard IDX files and the 5 x 7 digit grids.

Grids are ``(n, 140, 196)`` float32 images in [0, 1] made of 5 rows x 7 columns of 28 x 28
digits. For a target digit ``d``, half of the grids contain no ``d`` and half at least one; the
weak label is the number of ``d`` cells (regression) or their presence (classification).
"""

from __future__ import annotations

import gzip
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pvsflow.io.settings import MnistGridSettings

GRID_ROWS, GRID_COLUMNS, DIGIT_SIZE = 5, 7, 28


IDX_DTYPES = {
    0x08: np.uint8,
    0x09: np.int8,
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def read_idx(path: Path | str) -> np.ndarray:
    """An IDX file (``*-idx3-ubyte`` images, ``*-idx1-ubyte`` labels), gzipped or not."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as handle:
            data = handle.read()
    except (OSError, EOFError) as error:
        raise ValueError(f"{path}: cannot read IDX file: {error}") from None
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in IDX_DTYPES:
        raise ValueError(f"{path}: not an IDX file (bad magic number {data[:4].hex()})")
    dtype, ndim = np.dtype(IDX_DTYPES[data[2]]), data[3]
    header = 4 + 4 * ndim
    shape = tuple(int(n) for n in np.frombuffer(data[4:header], dtype=">u4"))
    expected = int(np.prod(shape)) * dtype.itemsize
    if len(data) - header != expected:
        raise ValueError(
            f"{path}: IDX header says {shape} ({expected} bytes) but the file holds {len(data) - header} bytes"
        )
    return np.frombuffer(data[header:], dtype=dtype).reshape(shape)


def read_pool(images_path: Path | str, labels_path: Path | str) -> tuple[np.ndarray, np.ndarray]:
    """A digit pool (images, labels) from its two IDX files, checked by :func:`check_pool`."""
    digits, labels = read_idx(images_path), read_idx(labels_path)
    check_pool(digits, labels, images_path, labels_path)
    return digits, labels


def check_pool(digits: np.ndarray, labels: np.ndarray, images_path: Path | str, labels_path: Path | str) -> None:
    """A digit pool must be ``(n, 28, 28)`` uint8 images with ``n`` labels 0-9."""
    if digits.ndim != 3 or digits.shape[1:] != (DIGIT_SIZE, DIGIT_SIZE) or digits.dtype != np.uint8:
        raise ValueError(
            f"{images_path}: expected unsigned-byte 28 x 28 digit images, got {digits.dtype} {digits.shape}"
        )
    if labels.ndim != 1 or len(labels) != len(digits):
        raise ValueError(f"{labels_path}: {labels.shape} labels for {len(digits)} images in {images_path}")
    if labels.size and (labels.min() < 0 or labels.max() > 9):
        raise ValueError(f"{labels_path}: labels must be digits 0-9, found {labels.min()}-{labels.max()}")


@dataclass(frozen=True)
class GridDataset:
    """``images`` ``(n, 140, 196)`` float32; ``cells`` ``(n, 5, 7)`` digit labels; ``counts``
    ``(n,)`` number of target cells."""

    digit: int
    images: np.ndarray
    cells: np.ndarray
    counts: np.ndarray


def make_grids(
    digits: np.ndarray, labels: np.ndarray, target: int, n_images: int, rng: np.random.Generator
) -> GridDataset:
    """``n_images`` grids from the digit pool (``digits`` ``(m, 28, 28)`` uint8, ``labels``
    ``(m,)``): the first half with no ``target``, the rest with at least one (each cell drawn
    uniformly from the pool, redrawn until the grid has a target)."""
    others = np.flatnonzero(labels != target)
    if not np.any(labels == target) or others.size == 0:
        raise ValueError(f"digit {target}: the pool needs both {target}s and other digits")
    cells_per_grid = GRID_ROWS * GRID_COLUMNS
    picks = np.empty((n_images, cells_per_grid), dtype=np.int64)
    negatives = n_images // 2
    picks[:negatives] = rng.choice(others, size=(negatives, cells_per_grid))
    for i in range(negatives, n_images):
        picks[i] = rng.integers(0, len(labels), cells_per_grid)
        while not np.any(labels[picks[i]] == target):
            picks[i] = rng.integers(0, len(labels), cells_per_grid)
    cells = labels[picks].reshape(n_images, GRID_ROWS, GRID_COLUMNS)
    tiles = digits[picks].reshape(n_images, GRID_ROWS, GRID_COLUMNS, DIGIT_SIZE, DIGIT_SIZE)
    images = tiles.transpose(0, 1, 3, 2, 4).reshape(n_images, GRID_ROWS * DIGIT_SIZE, GRID_COLUMNS * DIGIT_SIZE)
    return GridDataset(
        target,
        (images / 255.0).astype(np.float32),
        cells.astype(np.int64),
        (cells == target).sum(axis=(1, 2)).astype(np.int64),
    )


SPLITS = ("train", "validation", "test")


def split_pool(n_digits: int, test_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Disjoint (training pool, test pool) digit indices: a seeded random split."""
    order = np.random.default_rng(seed).permutation(n_digits)
    n_test = int(round(n_digits * test_fraction))
    if not 0 < n_test < n_digits:
        raise ValueError(f"test_fraction {test_fraction} leaves an empty pool of {n_digits} digits")
    return np.sort(order[n_test:]), np.sort(order[:n_test])


def digit_datasets(
    train_pool: tuple[np.ndarray, np.ndarray],
    test_pool: tuple[np.ndarray, np.ndarray],
    *,
    target: int,
    sizes: Mapping[str, int],
    seed: int,
) -> dict[str, GridDataset]:
    """The train and validation grids from the training pool, the test grids from the test pool
    (each pool is ``(digits, labels)``). Seeded by ``(seed, target)``, so a digit's datasets do
    not change when other digits are added."""
    rng = np.random.default_rng([seed, target])
    return {
        split: make_grids(*(test_pool if split == "test" else train_pool), target, int(sizes[split]), rng)
        for split in SPLITS
    }


def study_datasets(
    pool: tuple[np.ndarray, np.ndarray],
    *,
    target: int,
    settings: MnistGridSettings,
    test_pool: tuple[np.ndarray, np.ndarray] | None = None,
) -> dict[str, GridDataset]:
    """A study's grids for ``target`` (:func:`digit_datasets`): the test grids from ``test_pool``
    when there is one (MNIST's own test set), otherwise from a seeded ``test_pool_fraction`` of
    ``pool`` that the training and validation grids never draw from (:func:`split_pool`)."""
    seed = settings.seed
    if test_pool is None:
        train_index, test_index = split_pool(len(pool[1]), settings.test_pool_fraction, seed)
        pool, test_pool = (pool[0][train_index], pool[1][train_index]), (pool[0][test_index], pool[1][test_index])
    return digit_datasets(pool, test_pool, target=target, sizes=settings.sizes, seed=seed)


def pool_test_grids(pool: tuple[np.ndarray, np.ndarray], *, target: int, n_images: int, seed: int) -> GridDataset:
    """Test grids for ``target`` from an extra test pool ``(digits, labels)``, seeded by ``(seed,
    target)`` on a stream of their own (not the study's training grids' draws)."""
    return make_grids(*pool, target, n_images, np.random.default_rng([seed, target, 1]))


def save_datasets(path: Path | str, datasets: Mapping[str, GridDataset]) -> None:
    """One compressed ``.npz``: images as uint8 (exact: grids are MNIST bytes / 255)."""
    arrays = {}
    for split, data in datasets.items():
        arrays[f"{split}_images"] = np.rint(data.images * 255).astype(np.uint8)
        arrays[f"{split}_cells"] = data.cells
    np.savez_compressed(path, digit=next(iter(datasets.values())).digit, **arrays)


def load_dataset(path: Path | str, split: str) -> GridDataset:
    with np.load(path) as saved:
        digit = int(saved["digit"])
        cells = saved[f"{split}_cells"]
        images = (saved[f"{split}_images"] / 255.0).astype(np.float32)
    return GridDataset(digit, images, cells, (cells == digit).sum(axis=(1, 2)).astype(np.int64))


def example_images(data: GridDataset, n: int) -> np.ndarray:
    """Indices of the first ``n`` grids holding the target digit (the attention examples)."""
    return np.flatnonzero(data.counts > 0)[:n]
