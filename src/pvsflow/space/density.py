"""Cohort PVS density maps in template space: the detected PVS of every scan, each a Gaussian
blob that integrates to one, summed and divided by the number of scans."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import ndimage

from pvsflow.space.coordinates import TEMPLATE_COLUMNS
from pvsflow.space.templates import Template

MM3_PER_CM3 = 1000.0
FWHM_PER_SIGMA = 2.0 * np.sqrt(2.0 * np.log(2.0))


@dataclass(frozen=True, eq=False)
class DensityMap:
    """PVS per cm³ per scan on the template's grid (float32), over ``n_scans`` scans holding
    ``n_pvs`` detected PVS (``outside``: of them, in no voxel of the grid)."""

    data: np.ndarray
    n_scans: int
    n_pvs: int
    outside: int


def density_map(points_mm: np.ndarray, n_scans: int, template: Template, fwhm_mm: float) -> DensityMap:
    """The density of ``points_mm`` ((N, 3) template mm, the PVS of ``n_scans`` scans): each point
    spread over its eight nearest voxel centres (trilinear weights), smoothed by a Gaussian of
    ``fwhm_mm``, in PVS per cm³ per scan: the map's sum times the voxel volume is the mean number of
    PVS per scan (less what the smoothing carries past the grid's edge)."""
    counts = np.zeros(template.data.shape, dtype=np.float64)
    voxels = np.column_stack([points_mm, np.ones(len(points_mm))]) @ np.linalg.inv(template.affine).T
    voxels = voxels[:, :3]
    shape = np.asarray(counts.shape)
    inside = np.all((voxels >= -0.5) & (voxels <= shape - 0.5), axis=1)
    # Past the outermost voxel centres (within half a voxel of the grid's edge) a point is the edge voxel's.
    clamped = np.clip(voxels[inside], 0, shape - 1)
    low = np.minimum(np.floor(clamped).astype(np.int64), shape - 2)
    fraction = clamped - low
    for corner in np.ndindex(2, 2, 2):
        weight = np.prod(np.where(np.asarray(corner), fraction, 1.0 - fraction), axis=1)
        np.add.at(counts, tuple((low + np.asarray(corner)).T), weight)
    spacing = np.linalg.norm(template.affine[:3, :3], axis=0)
    smoothed = ndimage.gaussian_filter(counts, fwhm_mm / FWHM_PER_SIGMA / spacing, mode="constant")
    per_scan = smoothed / max(n_scans, 1) / template.voxel_volume_mm3 * MM3_PER_CM3
    return DensityMap(per_scan.astype(np.float32), n_scans, len(points_mm), int(np.count_nonzero(~inside)))


def selected_points(detections: pd.DataFrame, scans: Sequence[str]) -> np.ndarray:
    """Template coordinates (mm) of the detected PVS (the selected rows) of ``scans``."""
    chosen = detections[detections["selected"] & detections["scan"].isin(scans)]
    return chosen[TEMPLATE_COLUMNS].to_numpy(dtype=np.float64)


def cohort_density_maps(
    detections: pd.DataFrame,
    scan_counts: pd.DataFrame,
    transforms: pd.DataFrame,
    participants: pd.DataFrame,
    template: Template,
    *,
    fwhm_mm: float,
    group_by: Sequence[str] = (),
) -> dict[tuple[str, str] | None, DensityMap]:
    """A region's and method's density maps: over every scan whose detection and registration
    succeeded (key None), and over those of each value of each ``group_by`` column of
    ``participants`` (key ``(column, value)``; a participant without a value is in no group)."""
    detected = scan_counts.loc[scan_counts["status"] == "ok", "scan"]
    registered = transforms.loc[transforms["status"] == "ok", "scan"]
    scans = scan_counts.loc[scan_counts["scan"].isin(set(detected) & set(registered)), ["scan", "participant_id"]]
    groups: dict[tuple[str, str] | None, pd.Series] = {None: scans["scan"]}
    for column in group_by:
        if column not in participants.columns:
            raise ValueError(f"density.group_by: participants.tsv has no column {column!r}")
        values = scans["participant_id"].map(participants.set_index("participant_id")[column])
        for value in sorted(values.dropna().unique()):
            groups[(column, value)] = scans.loc[values == value, "scan"]
    return {
        group: density_map(selected_points(detections, members.tolist()), len(members), template, fwhm_mm)
        for group, members in groups.items()
    }
