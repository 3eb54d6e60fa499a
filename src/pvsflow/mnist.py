"""MNIST study (SPEC section 8): standard IDX files, the 5 x 7 digit grids, and their scoring.

Grids are ``(n, 140, 196)`` float32 images in [0, 1] made of 5 rows x 7 columns of 28 x 28
digits. For a target digit ``d``, half of the grids contain no ``d`` and half at least one; the
weak label is the number of ``d`` cells (regression) or their presence (classification). A
detection is a hit when it falls inside a ``d`` cell, each cell counting once.
"""

from __future__ import annotations

import gzip
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from pvsflow.attention import Method
from pvsflow.detection import local_maxima, operating_count
from pvsflow.evaluation import EvaluationSettings, cumulative_hits, scan_table, summarise
from pvsflow.models import CountNetwork
from pvsflow.reports import paper_tables_markdown, with_interval
from pvsflow.training import predicted_count

GRID_ROWS, GRID_COLUMNS, DIGIT_SIZE = 5, 7, 28
FAUC_MAX_FP = 5.0  # [MNIST] false positives per image
# The paper's mean FAUC over digits [Table A.5 regression, Table B.9 classification].
PAPER_FAUC = {
    "regression": {"gp_unet": 96.0, "gp_unet_no_residual": 99.3, "gated_attention": 71.3, "grad_cam": 92.5,
                   "grad": 75.9, "guided_backprop": 88.7},
    "classification": {"gp_unet": 72.4, "gp_unet_no_residual": 81.4, "gated_attention": 74.8, "grad_cam": 73.6,
                       "grad": 42.7, "guided_backprop": 74.4},
}
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


def read_pool(images_path: Path | str, labels_path: Path | str) -> tuple[np.ndarray, np.ndarray]:
    """A digit pool (images, labels) from its two IDX files, checked by :func:`check_pool`."""
    digits, labels = read_idx(images_path), read_idx(labels_path)
    check_pool(digits, labels, images_path, labels_path)
    return digits, labels


def check_pool(digits: np.ndarray, labels: np.ndarray, images_path: Path | str, labels_path: Path | str) -> None:
    """A digit pool must be ``(n, 28, 28)`` uint8 images with ``n`` labels 0-9."""
    if digits.ndim != 3 or digits.shape[1:] != (DIGIT_SIZE, DIGIT_SIZE) or digits.dtype != np.uint8:
        raise ValueError(f"{images_path}: expected unsigned-byte 28 x 28 digit images, got {digits.dtype} "
                         f"{digits.shape}")
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


SPLITS = ("train", "validation", "test")


def split_pool(n_digits: int, test_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Disjoint (training pool, test pool) digit indices: a seeded random split."""
    order = np.random.default_rng(seed).permutation(n_digits)
    n_test = int(round(n_digits * test_fraction))
    if not 0 < n_test < n_digits:
        raise ValueError(f"test_fraction {test_fraction} leaves an empty pool of {n_digits} digits")
    return np.sort(order[n_test:]), np.sort(order[:n_test])


def digit_datasets(train_pool: tuple[np.ndarray, np.ndarray], test_pool: tuple[np.ndarray, np.ndarray],
                   target: int, sizes: Mapping[str, int], seed: int) -> dict[str, GridDataset]:
    """The train and validation grids from the training pool, the test grids from the test pool
    (each pool is ``(digits, labels)``). Seeded by ``(seed, target)``, so a digit's datasets do
    not change when other digits are added."""
    rng = np.random.default_rng([seed, target])
    return {split: make_grids(*(test_pool if split == "test" else train_pool), target, int(sizes[split]), rng)
            for split in SPLITS}


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


def tensor_dataset(data: GridDataset) -> torch.utils.data.TensorDataset:
    """Items: image ``(1, 140, 196)`` float32 and count ``()`` float32, as the trainer expects."""
    return torch.utils.data.TensorDataset(torch.from_numpy(data.images)[:, None],
                                          torch.from_numpy(data.counts).float())


def grid_cells(pixels: np.ndarray) -> np.ndarray:
    """``(N, 2)`` (row, column) pixel coordinates -> ``(N, 2)`` grid cells."""
    return np.asarray(pixels, dtype=np.int64) // DIGIT_SIZE


def image_hits(pixels: np.ndarray, cells: np.ndarray, target: int) -> np.ndarray:
    """Cumulative hits of ranked detections at ``pixels`` in one grid: a detection is a true
    positive when it lies in a ``target`` cell not already found (one-to-one, SPEC 7)."""
    return cumulative_hits(grid_cells(pixels).astype(float), np.argwhere(cells == target).astype(float), 0.0)


def example_images(data: GridDataset, n: int) -> np.ndarray:
    """Indices of the first ``n`` grids holding the target digit (the attention examples)."""
    return np.flatnonzero(data.counts > 0)[:n]


def evaluate_method(model: CountNetwork, method: Method, objective: str, data: GridDataset, nms_size: int,
                    batch_size: int = 50, device: torch.device | str = "cpu"
                    ) -> tuple[pd.DataFrame, pd.DataFrame, np.ndarray]:
    """Attention maps of every grid of ``data``, their detections and per-image results.

    Returns (detections: one row per candidate, ranked per image; per-image rows with
    ``hits`` (cumulative true positives), ``n_lesions``, ``n_selected`` and counts, as
    :func:`pvsflow.evaluation.scan_table` reads them; maps ``(n, 140, 196)`` float32).
    """
    model.to(device).eval()
    maps, outputs = [], []
    for start in range(0, len(data.images), batch_size):
        batch = torch.from_numpy(data.images[start:start + batch_size])[:, None].to(device)
        attention, output = method.compute(model, batch)
        maps.append(attention.detach().float().cpu().numpy())
        outputs.append(predicted_count(output.detach().float(), objective).cpu().numpy())
    all_maps, counts = np.concatenate(maps), np.concatenate(outputs)
    detections, images = [], []
    for index, (attention, cells, true_count, count) in enumerate(zip(all_maps, data.cells, data.counts, counts)):
        pixels, scores = local_maxima(attention, nms_size)
        found = grid_cells(pixels)
        detections.append(pd.DataFrame({
            "image": index, "rank": np.arange(1, len(scores) + 1), "score": scores.astype(np.float32),
            "pixel_row": pixels[:, 0], "pixel_column": pixels[:, 1], "grid_row": found[:, 0],
            "grid_column": found[:, 1], "cell_digit": cells[found[:, 0], found[:, 1]],
            "selected": np.arange(len(scores)) < operating_count(float(count))}))
        images.append({"image": index, "hits": image_hits(pixels, cells, data.digit).tolist(),
                       "n_lesions": int(true_count), "n_selected": operating_count(float(count)),
                       "predicted_count": float(count), "true_count": float(true_count)})
    return pd.concat(detections, ignore_index=True), pd.DataFrame(images), all_maps


def summarise_study(per_image: Mapping[tuple[str, int, str], pd.DataFrame], settings: EvaluationSettings
                    ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(per-digit metrics, mean over digits) for every objective and method: FAUC (0 to
    ``settings.fauc_max_fp`` FP per image), sensitivity, FPavg and FNavg with 95% bootstrap
    intervals over test images. ``per_image[(objective, digit, method)]`` as written by
    :func:`evaluate_method`; every digit must have the same number of test grids."""
    per_digit, mean = [], []
    runs = list(dict.fromkeys((objective, method) for objective, _, method in per_image))
    for objective, method in runs:
        tables = {digit: scan_table(frame) for (o, digit, m), frame in per_image.items()
                  if (o, m) == (objective, method)}
        for digit, table in tables.items():
            per_digit.append({"objective": objective, "digit": str(digit), "method": method,
                              "n_images": len(table), **summarise([table], settings)})
        mean.append({"objective": objective, "digit": "mean", "method": method,
                     "n_images": len(next(iter(tables.values()))), **summarise(list(tables.values()), settings)})
    return pd.DataFrame(per_digit), pd.DataFrame(mean)


def study_markdown(per_digit: pd.DataFrame, mean: pd.DataFrame, labels: Mapping[str, str], fauc_max_fp: float) -> str:
    """The study's tables: mean FAUC beside the paper's (Tables A.5 and B.9), then per objective
    the paper-shaped tables (rows digits, columns methods)."""
    lines = ["# MNIST study (test grids)", "", f"## Mean FAUC over digits (0-{fauc_max_fp:g} FP per image)", ""]
    objectives = list(dict.fromkeys(mean["objective"]))
    lines += ["| method | " + " | ".join(f"{o} | paper ({o})" for o in objectives) + " |",
              "| --- |" + " ---: | ---: |" * len(objectives)]
    cells = mean.set_index(["method", "objective"])
    for method in dict.fromkeys(mean["method"]):
        row = []
        for objective in objectives:
            measured = with_interval(cells.loc[(method, objective)], "fauc", 1) if (method, objective) in cells.index else "-"
            paper = PAPER_FAUC.get(objective, {}).get(method)
            row += [measured, "-" if paper is None else f"{paper:.1f}"]
        lines.append(f"| {labels.get(method, method)} | " + " | ".join(row) + " |")
    lines.append("")
    note = "Brackets: 95% percentile bootstrap interval over test grids. Bold: best in the row."
    for objective in objectives:
        rows = pd.concat([per_digit[per_digit["objective"] == objective], mean[mean["objective"] == objective]])
        lines.append(paper_tables_markdown(rows.rename(columns={"digit": "region"}), dict(labels), fauc_max_fp,
                                           title=f"## {objective.capitalize()}", row_name="digit", unit="image",
                                           note=note))
    return "\n".join(lines)
