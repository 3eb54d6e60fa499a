"""What the extraction records say of a scan beyond success or failure: a voxel size far from the
cohort's, a crop that misses part of its region (docs/method.md, "Voxel order and headers",
"Crop coverage"). The QC table reports both; training leaves voxel-size outliers out by default."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from pvsflow.regions.crops import RegionRecord, ScanRecord


def _mm(size: tuple[float, ...] | np.ndarray) -> str:
    return " x ".join(f"{v:.2f}" for v in size)


def voxel_size_outliers(records: Mapping[str, ScanRecord], ratio: float) -> dict[str, str]:
    """scan -> why, for every scan whose voxel size differs from the median of ``records`` (the
    readable scans') by more than the factor ``ratio`` on any axis (larger or smaller)."""
    sizes = {scan: np.asarray(r.voxel_size_mm) for scan, r in records.items() if r.voxel_size_mm is not None}
    if not sizes:
        return {}
    median = np.median(np.stack(list(sizes.values())), axis=0)
    outliers = {}
    for scan, size in sizes.items():
        worst = float(np.max(np.maximum(size / median, median / size)))
        if worst > ratio:
            outliers[scan] = (
                f"voxel size {_mm(size)} mm is {worst:.1f}x the cohort's median {_mm(median)} mm on an axis "
                f"(over qc.voxel_size_outlier_ratio {ratio:g}): its crops cover another extent"
            )
    return outliers


def coverage_warning(region: str, crop: RegionRecord, minimum: float, *, slice_rated: bool) -> str:
    """A warning when the crop holds less than ``minimum`` of the region's labelled voxels (for a
    ``slice_rated`` region, of those in the rated slice); empty otherwise."""
    if not crop.ok or crop.coverage is None or crop.coverage >= minimum:
        return ""
    voxels = "labelled voxels in the rated slice" if slice_rated else "labelled voxels"
    return (
        f"{region}: the crop holds {100 * crop.coverage:.0f}% of the region's {voxels} (under "
        f"qc.min_crop_coverage {100 * minimum:.0f}%): part of what was rated is not in the network's input"
    )
