"""The chance level of a region (docs/method.md, "Evaluation"): the FAUC of random attention
maps, run through the same detection and matching as every method. With small crops the match
radius covers much of a region, so chance is far from 0; every FAUC is read against it."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from pvsflow.detect.candidates import detect
from pvsflow.io import layout
from pvsflow.io.settings import EvaluationSettings
from pvsflow.io.volumes import load_crop
from pvsflow.regions.crop_records import read_scan_record
from pvsflow.regions.registry import REGIONS
from pvsflow.stats.froc import ScanResult, ScanTable
from pvsflow.stats.matching import cumulative_hits


def chance_fauc(
    crop_dirs: Sequence[Path | str], region: str, dots: pd.DataFrame, *, nms_size: int, settings: EvaluationSettings
) -> float:
    """FAUC of uniform noise over each scan's crop box (seeded by ``settings.seed``): the level
    any method must beat. ``crop_dirs``: the test scans' crop directories; ``dots``: the region's
    annotations in scan voxels. Scans whose region failed extraction are left out."""
    rng = np.random.default_rng(settings.seed)
    annotations = {s: g[["x", "y", "z"]].to_numpy(float) for s, g in dots.groupby("scan")}
    scans = []
    for crop_dir in map(Path, crop_dirs):
        record = read_scan_record(crop_dir)
        if not record.region(region).ok:
            continue
        image, _ = load_crop(layout.crop_file(crop_dir, region))
        # Only the positions are scored: no labels (anatomy) are needed.
        found = detect(
            rng.random(image.shape),
            np.zeros(image.shape, dtype=np.int32),
            0.0,
            record.region(region),
            record.voxel_order,
            region=REGIONS[region],
            scan_id=crop_dir.name,
            nms_size=nms_size,
        )
        truth = annotations.get(crop_dir.name, np.zeros((0, 3)))
        hits = cumulative_hits(
            found[["voxel_x", "voxel_y", "voxel_z"]].to_numpy(float), truth, settings.match_distance_voxels
        )
        scans.append(ScanResult(hits, len(truth), 0))
    return ScanTable(scans).fauc(settings.fauc_max_fp) if scans else float("nan")
