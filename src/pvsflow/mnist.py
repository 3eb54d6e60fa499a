"""MNIST study data (SPEC section 8): standard IDX files and the 5 x 7 digit grids.

Grids are ``(n, 140, 196)`` float32 images in [0, 1] made of 5 rows x 7 columns of 28 x 28
digits. For a target digit ``d``, half of the grids contain no ``d`` and half at least one; the
weak label is the number of ``d`` cells (regression) or their presence (classification).
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from pathlib import Path

import numpy as np

GRID_ROWS, GRID_COLUMNS, DIGIT_SIZE = 5, 7, 28
IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: np.dtype(">i2"), 0x0C: np.dtype(">i4"),
              0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}


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
        raise ValueError(f"{path}: IDX header says {shape} ({expected} bytes) but the file holds "
                         f"{len(data) - header} bytes")
    return np.frombuffer(data[header:], dtype=dtype).reshape(shape)


@dataclass(frozen=True)
class GridDataset:
    """``images`` ``(n, 140, 196)`` float32; ``cells`` ``(n, 5, 7)`` digit labels; ``counts``
    ``(n,)`` number of target cells."""

    digit: int
    images: np.ndarray
    cells: np.ndarray
    counts: np.ndarray


def make_grids(digits: np.ndarray, labels: np.ndarray, target: int, n_images: int,
               rng: np.random.Generator) -> GridDataset:
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
    return GridDataset(target, (images / 255.0).astype(np.float32), cells.astype(np.int64),
                       (cells == target).sum(axis=(1, 2)).astype(np.int64))
