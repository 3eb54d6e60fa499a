"""The per-region attention-map figure: one test slice, every method side by side."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from pvsflow import layout, plots
from pvsflow.crop_records import RegionRecord, read_scan_record
from pvsflow.io import load_crop
from pvsflow.regions import SLICE_RATED


def example_scan(crop_dirs: Sequence[Path], region: str, dots: pd.DataFrame) -> Path:
    """The scan (crop directory) with the most annotated PVS in ``region``; ties by name."""
    usable = [d for d in crop_dirs if read_scan_record(d).region(region).ok]
    if not usable:
        raise ValueError(f"{region}: no test scan with a usable crop")
    counts = dots[dots["region"] == region]["scan"].value_counts()
    return max(sorted(usable, key=lambda d: d.name), key=lambda d: counts.get(d.name, 0))


def example_slice(crop: RegionRecord, region: str, crop_dots: np.ndarray, depth: int) -> int:
    """The rated slice of slice-rated regions, else the slice holding the most PVS (or the middle)."""
    if region in SLICE_RATED and crop.rated_slice is not None:
        return int(crop.rated_slice)
    if len(crop_dots) == 0:
        return depth // 2
    slices, counts = np.unique(crop_dots[:, 2], return_counts=True)
    return int(slices[np.argmax(counts)])


def region_attention_figure(
    path: Path | str, crop_dir: Path, *, region: str, maps: Mapping[str, Path | str], dots: pd.DataFrame
) -> None:
    """Write the figure of one scan (its crop directory ``crop_dir``, e.g. :func:`example_scan`):
    ``maps``: method label -> that method's attention map of the scan; ``dots``: annotations."""
    scan_id = crop_dir.name
    record = read_scan_record(crop_dir)
    crop = record.region(region)
    image, _ = load_crop(layout.crop_file(crop_dir, region))
    scan_dots = dots[(dots["region"] == region) & (dots["scan"] == scan_id)]
    crop_dots = record.voxel_order.to_canonical(scan_dots[["x", "y", "z"]].to_numpy(int)) - np.asarray(crop.origin)
    z = example_slice(crop, region, crop_dots, image.shape[2])
    slices = {label: load_crop(map_path)[0][:, :, z] for label, map_path in maps.items()}
    in_slice = crop_dots[np.abs(crop_dots[:, 2] - z) <= 1][:, :2]
    plots.attention_figure(path, image[:, :, z], slices, in_slice, f"{region}: {scan_id}, crop slice {z}")
