"""Training data: region crops with their weak labels (PVS counts)."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from pvsflow.io.settings import QcSettings
from pvsflow.io.volumes import load_crop, volume_geometry
from pvsflow.regions.crops import ScanCrops, ScanRecord
from pvsflow.regions.quality import voxel_size_outliers


class CropDataset(torch.utils.data.Dataset):
    """Region crops (NIfTI) with their weak labels, loaded once and kept in memory.

    Items: image ``(1, *spatial)`` float32 and target count ``()`` float32.
    """

    def __init__(self, paths: Sequence[Path | str], counts: Sequence[float]) -> None:
        if len(paths) != len(counts):
            raise ValueError("one count per crop is needed")
        self.paths = [Path(p) for p in paths]
        self.counts = torch.tensor(list(counts), dtype=torch.float32)
        self._cache: dict[int, torch.Tensor] = {}

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        if index not in self._cache:
            self._cache[index] = torch.from_numpy(load_crop(self.paths[index])[0])[None]
        return self._cache[index], self.counts[index]


def crop_geometry(paths: Sequence[Path | str]) -> tuple[tuple[int, ...], tuple[float, ...], str]:
    """The crops' shape (the first crop's), median voxel size in mm and most common orientation."""
    geometries = [volume_geometry(path) for path in paths]
    voxel_size = tuple(float(v) for v in np.median([zooms for _, zooms, _ in geometries], axis=0))
    orientation = Counter(codes for _, _, codes in geometries).most_common(1)[0][0]
    return geometries[0][0], voxel_size, orientation


def usable_crops(
    records: Mapping[ScanCrops, ScanRecord],
    region: str,
    counts: dict[str, float],
    *,
    left_out: Mapping[str, str],
    log: Callable[[str], None],
) -> tuple[list[Path], list[float]]:
    """Crops of ``region`` whose extraction succeeded, whose scan has a weak label and is not in
    ``left_out`` (scan -> why). ``records``: crop directory -> its scan's extraction record.

    Scans left out are reported through ``log`` with the reason.
    """
    paths, targets = [], []
    for crops, record in records.items():
        scan_id = record.scan
        crop = record.region(region)
        if not crop.ok:
            log(f"{scan_id}: left out of {region} training: {crop.error}")
        elif scan_id not in counts or not math.isfinite(counts[scan_id]):
            log(f"{scan_id}: left out of {region} training: no {region} PVS count in the weak labels")
        elif scan_id in left_out:
            log(f"{scan_id}: left out of {region} training: {left_out[scan_id]}")
        else:
            paths.append(crops.image_file(region))
            targets.append(counts[scan_id])
    return paths, targets


def region_datasets(
    scan_crops: Mapping[str, Sequence[ScanCrops]],
    region: str,
    counts: pd.DataFrame,
    *,
    qc: QcSettings,
    log: Callable[[str], None],
) -> dict[str, CropDataset]:
    """One :class:`CropDataset` of ``region`` per split (``scan_crops``: split name -> the split's
    crop directories), labelled from the counts table (:func:`pvsflow.cohort.tables.read_counts`).
    Scans whose voxel size is far from the median of all splits' scans are left out unless
    ``qc.train_on_voxel_size_outliers`` (:func:`pvsflow.regions.quality.voxel_size_outliers`).

    Scans left out are reported through ``log``; a split with no usable scan is an error.
    """
    region_counts = counts[counts["region"] == region].set_index("scan")["pvs_count"].to_dict()
    records = {split: {crops: crops.record() for crops in split_crops} for split, split_crops in scan_crops.items()}
    every_scan = {record.scan: record for split in records.values() for record in split.values()}
    left_out = {} if qc.train_on_voxel_size_outliers else voxel_size_outliers(every_scan, qc.voxel_size_outlier_ratio)
    datasets = {}
    for split, split_records in records.items():
        paths, targets = usable_crops(split_records, region, region_counts, left_out=left_out, log=log)
        if not paths:
            raise RuntimeError(f"{region}: no usable {split} scans (see the warnings above)")
        datasets[split] = CropDataset(paths, targets)
    return datasets
