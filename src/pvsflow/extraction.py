"""Per-scan stage: read a scan once and write every region's crop plus its metadata.

A scan or region that cannot be processed does not fail the job: the problem is recorded in the
scan's ``regions.json`` (``status: failed`` and the reason) and later stages leave it out, so one
bad scan cannot stop or corrupt a cohort.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from pvsflow.io import ScanError, load_scan, read_json, save_volume, write_json
from pvsflow.label_maps import MIN_REGION_COVERAGE, load_label_map
from pvsflow.layout import crop_file, crop_metadata, label_crop_file
from pvsflow.regions import RegionSpec, extract_region

log = logging.getLogger(__name__)


def crop_dirs_of(crop_sets: Sequence[Path | str], scans: Sequence[str] | None = None) -> list[Path]:
    """The scans' crop directories in crop set directories
    (:meth:`pvsflow.layout.ResultsLayout.crop_set`): every scan's, sorted by scan ID, or those of
    ``scans`` in their order."""
    found = {path.name: path for crop_set in crop_sets for path in Path(crop_set).iterdir() if path.is_dir()}
    return [found[scan] for scan in (sorted(found) if scans is None else scans)]


def region_entry(scan_dir: Path | str, region: str) -> dict[str, Any]:
    """One region's metadata from a scan's ``regions.json`` (``status`` ok or failed)."""
    regions = read_json(crop_metadata(scan_dir))["regions"]
    return regions.get(region, {"status": "failed", "error": f"{Path(scan_dir).name}: {region} was not extracted"})


def extract_scan(
    scan_id: str,
    *,
    scan: Path | str,
    label_map: Path | str,
    substructures: Path | str | None = None,
    specs: Sequence[RegionSpec],
    rated_slices: Mapping[str, int | None],
    out_dir: Path | str,
) -> dict[str, Any]:
    """Write every region's crop that works and the scan's extraction record, always, into
    ``out_dir`` (names: :func:`pvsflow.layout.crop_file`, :func:`pvsflow.layout.crop_metadata`).

    ``scan``: a 3D NIfTI volume; ``label_map`` (and the optional ``substructures`` map): NIfTI or
    MGZ on any grid in the same scanner space (:func:`pvsflow.label_maps.load_label_map`);
    ``specs``: the regions to cut; ``rated_slices``: scan z index of the rated slice per
    slice-rated region (None if not rated). Returns the metadata written: where the labels came
    from (``labels``), per region its status, and for successful ones the crop origin (scan
    voxel), crop affine, the label IDs that made the region and its height range (RAS z, mm),
    rated slice in crop coordinates and the midline RAS x; beside each crop, the label map cut
    to the same box. A region of which less than :data:`pvsflow.label_maps.MIN_REGION_COVERAGE`
    lies inside the scan fails.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    metadata: dict[str, Any] = {"scan": scan_id, "regions": {}}
    try:
        image, affine = load_scan(scan, scan_id)
        labels = load_label_map(label_map, scan_id, image, affine, substructures=substructures)
    except ScanError as error:
        log.error("%s", error)
        metadata["regions"] = {spec.name: {"status": "failed", "error": str(error)} for spec in specs}
        write_json(crop_metadata(out_dir), metadata)
        return metadata
    metadata["labels"] = labels.source
    for spec in specs:
        try:
            coverage = labels.coverage(spec.preferred_labels) if spec.preferred_labels else None
            coverage = labels.coverage(spec.labels) if coverage is None else coverage
            if coverage is not None and coverage < MIN_REGION_COVERAGE:
                inside = f"only {100 * coverage:.0f}% of the region's labels lie inside the scan's field of view"
                raise ScanError(scan_id, f"{spec.name}: {inside}")
            crop = extract_region(
                image,
                labels.labels,
                affine,
                spec,
                scan_id=scan_id,
                rated_slice=rated_slices.get(spec.name),
                boxes=labels.boxes,
            )
        except ScanError as error:
            log.error("%s", error)
            metadata["regions"][spec.name] = {"status": "failed", "error": str(error)}
            continue
        save_volume(crop_file(out_dir, spec.name), crop.image, crop.affine)
        save_volume(label_crop_file(out_dir, spec.name), crop.labels, crop.affine, np.int32)
        metadata["regions"][spec.name] = {
            "status": "ok",
            "labels": list(crop.label_ids),
            "height_range_mm": list(crop.height_range_mm),
            "origin": list(crop.origin),
            "affine": crop.affine.tolist(),
            "rated_slice": crop.rated_slice,
            "midline_ras_x": crop.midline_ras_x,
        }
    write_json(crop_metadata(out_dir), metadata)
    return metadata
