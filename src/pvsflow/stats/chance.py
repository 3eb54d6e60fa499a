"""The chance level of a region (docs/method.md, "Evaluation"): the FAUC of random attention
maps, run through the same detection and matching as every method. With small crops the match
radius covers much of a region, so chance is far from 0; every FAUC is read against it."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from pvsflow.detect.candidates import detect
from pvsflow.io.settings import EvaluationSettings
from pvsflow.regions.crops import ScanCrops
from pvsflow.regions.registry import REGIONS
from pvsflow.stats.froc import ScanResult, ScanTable
from pvsflow.stats.matching import cumulative_hits


def chance_fauc(
    scan_crops: Sequence[ScanCrops], region: str, dots: pd.DataFrame, *, nms_size: int, settings: EvaluationSettings
) -> float:
    """FAUC of uniform noise over each scan's crop box (seeded by ``settings.seed``): the level
    any method must beat. ``scan_crops``: the test scans' crop directories; ``dots``: the region's
    annotations in scan voxels. Scans whose region failed extraction are left out."""
    rng = np.random.default_rng(settings.seed)
    annotations = {s: g[["x", "y", "z"]].to_numpy(float) for s, g in dots.groupby("scan")}
    scans = []
    for crops in scan_crops:
        record = crops.record()
        if not record.region(region).ok:
            continue
        image, _ = crops.image(region)
        # Only the positions are scored: no labels (anatomy) are needed.
        found = detect(
            rng.random(image.shape),
            np.zeros(image.shape, dtype=np.int32),
            0.0,
            record.region(region),
            record.voxel_order,
            region=REGIONS[region],
            scan_id=crops.scan,
            nms_size=nms_size,
        )
        truth = annotations.get(crops.scan, np.zeros((0, 3)))
        hits = cumulative_hits(
            found[["voxel_x", "voxel_y", "voxel_z"]].to_numpy(float), truth, settings.match_distance_voxels
        )
        scans.append(ScanResult(hits, len(truth), 0))
    return ScanTable(scans).fauc(settings.fauc_max_fp) if scans else float("nan")
