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

from pvsflow.io import ScanError, load_scan_and_labels, read_json, save_volume, write_json
from pvsflow.layout import crop_file, crop_metadata
from pvsflow.regions import RegionSpec, extract_region

log = logging.getLogger(__name__)


def region_entry(scan_dir: Path | str, region: str) -> dict[str, Any]:
    """One region's metadata from a scan's ``regions.json`` (``status`` ok or failed)."""
    regions = read_json(crop_metadata(scan_dir))["regions"]
    return regions.get(region, {"status": "failed", "error": f"{Path(scan_dir).name}: {region} was not extracted"})


def extract_scan(
    subject: str,
    *,
    scan: Path | str,
    label_map: Path | str,
    specs: Sequence[RegionSpec],
    rated_slices: Mapping[str, int | None],
    out_dir: Path | str,
) -> dict[str, Any]:
    """Write every region's crop that works and the scan's extraction record, always, into
    ``out_dir`` (names: :func:`pvsflow.layout.crop_file`, :func:`pvsflow.layout.crop_metadata`).

    ``scan``, ``label_map``: 3D NIfTI volumes on the same grid; ``specs``: the regions to cut;
    ``rated_slices``: scan z index of the rated slice per slice-rated region (None if not rated).
    Returns the metadata written: per region its status, and for successful ones the crop origin
    (scan voxel), crop affine, rated slice in crop coordinates and the midline RAS x.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    metadata: dict[str, Any] = {"subject": subject, "regions": {}}
    try:
        image, labels, affine = load_scan_and_labels(scan, label_map, subject)
    except ScanError as error:
        log.error("%s", error)
        metadata["regions"] = {spec.name: {"status": "failed", "error": str(error)} for spec in specs}
        write_json(crop_metadata(out_dir), metadata)
        return metadata
    for spec in specs:
        try:
            crop = extract_region(image, labels, affine, spec, subject=subject, rated_slice=rated_slices.get(spec.name))
        except ScanError as error:
            log.error("%s", error)
            metadata["regions"][spec.name] = {"status": "failed", "error": str(error)}
            continue
        save_volume(crop_file(out_dir, spec.name), crop.image, crop.affine)
        metadata["regions"][spec.name] = {
            "status": "ok",
            "origin": list(crop.origin),
            "affine": crop.affine.tolist(),
            "rated_slice": crop.rated_slice,
            "midline_ras_x": crop.midline_ras_x,
        }
    write_json(crop_metadata(out_dir), metadata)
    return metadata
