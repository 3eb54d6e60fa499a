"""Per-scan stage: read a scan once and write every region's crop plus its metadata.

A scan or region that cannot be processed does not fail the job: the problem is recorded in the
scan's ``regions.json`` (``status: failed`` and the reason) and later stages leave it out, so one
bad scan cannot stop or corrupt a cohort.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from nibabel.affines import voxel_sizes

from pvsflow.io.volumes import ScanError, load_scan, save_volume
from pvsflow.regions.cropping import extract_region
from pvsflow.regions.crops import RegionRecord, ScanCrops, ScanRecord
from pvsflow.regions.label_maps import MIN_REGION_COVERAGE, load_label_map
from pvsflow.regions.registry import RegionSpec

log = logging.getLogger(__name__)


def extract_scan(
    scan_id: str,
    *,
    scan: Path | str,
    label_map: Path | str,
    substructures: Path | str | None = None,
    specs: Sequence[RegionSpec],
    rated_slices: Mapping[str, int | None],
    out_dir: Path | str,
) -> ScanRecord:
    """Write every region's crop that works and the scan's extraction record, always, into
    ``out_dir`` (:class:`pvsflow.regions.crops.ScanCrops`).

    ``scan``: a 3D NIfTI volume in any voxel order (brought to canonical order first,
    :mod:`pvsflow.io.voxel_order`); ``label_map`` (and the optional ``substructures`` map): NIfTI or
    MGZ on any grid in the same scanner space (:func:`pvsflow.regions.label_maps.load_label_map`);
    ``specs``: the regions to cut; ``rated_slices``: the rated slice per slice-rated region, as
    the scan stores it (an index along its voxel axis closest to superior-inferior; None if not
    rated). Returns the record written (:class:`pvsflow.regions.crops.ScanRecord`); beside each
    crop, the label map cut to the same box. A region of which less than
    :data:`pvsflow.regions.label_maps.MIN_REGION_COVERAGE` lies inside the scan fails.
    """
    crops = ScanCrops(Path(out_dir))
    crops.path.mkdir(parents=True, exist_ok=True)
    try:
        volume = load_scan(scan, scan_id)
        labels = load_label_map(label_map, scan_id, volume, substructures=substructures)
    except ScanError as error:
        log.error("%s", error)
        failed = ScanRecord(scan_id, {spec.name: RegionRecord.failed(str(error)) for spec in specs})
        crops.write_record(failed)
        return failed
    warnings = volume.warnings + labels.warnings
    for warning in warnings:
        log.warning("%s: %s", scan_id, warning)
    regions = {}
    for spec in specs:
        try:
            coverage = labels.coverage(spec.preferred_labels) if spec.preferred_labels else None
            coverage = labels.coverage(spec.labels) if coverage is None else coverage
            if coverage is not None and coverage < MIN_REGION_COVERAGE:
                inside = f"only {100 * coverage:.0f}% of the region's labels lie inside the scan's field of view"
                raise ScanError(scan_id, f"{spec.name}: {inside}")
            crop = extract_region(
                volume.data,
                labels.labels,
                volume.affine,
                spec,
                scan_id=scan_id,
                rated_slice=rated_slices.get(spec.name),
                voxel_order=volume.voxel_order,
                boxes=labels.boxes,
            )
        except ScanError as error:
            log.error("%s", error)
            regions[spec.name] = RegionRecord.failed(str(error))
            continue
        save_volume(crops.image_file(spec.name), crop.image, crop.affine)
        save_volume(crops.labels_file(spec.name), crop.labels, crop.affine, np.int32)
        regions[spec.name] = RegionRecord(
            "ok",
            origin=crop.origin,
            affine=tuple(tuple(float(v) for v in row) for row in crop.affine),
            labels=tuple(crop.label_ids),
            height_range_mm=crop.height_range_mm,
            rated_slice=crop.rated_slice,
            midline_ras_x=crop.midline_ras_x,
            coverage=round(crop.coverage, 4),
        )
    record = ScanRecord(
        scan_id,
        regions,
        voxel_order=volume.voxel_order,
        voxel_size_mm=tuple(round(float(v), 4) for v in voxel_sizes(volume.affine)),  # type: ignore[arg-type]
        label_source=labels.source,
        warnings=warnings,
    )
    crops.write_record(record)
    return record
