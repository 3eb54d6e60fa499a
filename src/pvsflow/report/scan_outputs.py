"""The per-scan outputs of a crop set (one job): for every scan, each chosen method's PVS in the
scan's own grid (:mod:`pvsflow.report.scan_maps`) and the scan's QC image (:mod:`pvsflow.report.qc_images`),
and one row per scan saying what was written (the QC page reads it)."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd

from pvsflow.attention.catalogue import METHOD_CATALOGUE
from pvsflow.io.layout import ResultsLayout, attention_map
from pvsflow.io.volumes import ScanError, Volume, load_scan
from pvsflow.regions.crops import ScanCrops
from pvsflow.report.qc_images import draw_qc_image
from pvsflow.report.scan_maps import write_scan_maps
from pvsflow.space.coordinates import scanner_to_template, transforms_by_scan
from pvsflow.space.registration import template_brain_in_scan
from pvsflow.space.templates import Template

log = logging.getLogger(__name__)

MANIFEST_COLUMNS = ["scan", "split", "status", "n_pvs", "qc_image", "pvs_maps", "error"]


def template_outline(
    template: Template | None, registration: Mapping | None, volume: Volume
) -> tuple[np.ndarray | None, str]:
    """The template's brain on the scan's grid where the scan was registered, and what the QC
    image's title says of it."""
    if template is None or registration is None:
        return None, ""
    matrix = scanner_to_template(registration)
    if matrix is None:
        return None, f"; registration to {template.space} failed"
    return template_brain_in_scan(template, matrix, volume.affine, volume.data.shape), f"; {template.space} outlined"


def scan_outputs(
    results: ResultsLayout,
    scan_crops: Sequence[ScanCrops],
    scan_files: Mapping[str, Path],
    *,
    methods: Mapping[str, Sequence[str]],
    attention: Mapping[tuple[str, str], Path],
    detections: pd.DataFrame,
    ratings: pd.DataFrame | None,
    crop_shapes: Mapping[str, tuple[int, int, int]],
    splits: Mapping[str, str],
    template: Template | None = None,
    transforms: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Write every scan's per-scan outputs under ``results`` and return the manifest
    (:data:`MANIFEST_COLUMNS`, paths relative to ``results``). ``methods``: region -> the chosen
    methods it runs (the first chosen method marks the QC image); ``attention``: (region, method)
    -> the crop set's attention directory; ``detections``: the crop set's location-table rows of
    those methods; ``ratings``: the rated counts (None without ratings); ``crop_shapes``: each
    region's crop in voxels; ``splits``: scan -> its set; ``template`` and ``transforms``: the
    run's template and the scans' registrations to it, whose brain the QC image outlines. A scan
    that cannot be read is a row with its reason; the others are written."""
    written = sorted({m for chosen in methods.values() for m in chosen}, key=list(METHOD_CATALOGUE).index)
    shown = written[0] if written else None
    registrations = transforms_by_scan(transforms)
    rows = []
    for crops in scan_crops:
        scan_id = crops.scan
        record = crops.record()
        row = {"scan": scan_id, "split": splits[scan_id], "status": "ok", "n_pvs": 0, "error": ""}
        try:
            volume = load_scan(scan_files[scan_id], scan_id)
        except ScanError as error:
            rows.append(row | {"status": "failed", "qc_image": "", "pvs_maps": "", "error": str(error)})
            continue
        image = nib.load(scan_files[scan_id])
        found = detections[detections["scan"] == scan_id]
        maps = []
        for method in written if record.voxel_order is not None else ():  # else no region was cut
            regions = [region for region, chosen in methods.items() if method in chosen]
            paths = {region: attention_map(attention[(region, method)], scan_id) for region in regions}
            paths = {region: path for region, path in paths.items() if path.exists()}  # failed regions have none
            pvs_map = results.pvs_map(scan=scan_id, method=method)
            n_pvs = write_scan_maps(
                record,
                image,
                paths,
                found[(found["method"] == method) & found["region"].isin(regions)],
                map_path=pvs_map,
                labels_path=results.pvs_labels(scan=scan_id, method=method),
                table_path=results.pvs_label_table(scan=scan_id, method=method),
            )
            row["n_pvs"] += n_pvs
            maps.append(str(pvs_map.relative_to(results.root)))
        shown_rows = found[(found["method"] == shown) & found["selected"]]
        predicted = found[found["method"] == shown].groupby("region")["predicted_count"].first().to_dict()
        rated = {}
        if ratings is not None:
            rated = ratings[ratings["scan"] == scan_id].set_index("region")["pvs_count"].to_dict()
        qc_image = results.qc_image(scan_id)
        label = METHOD_CATALOGUE[shown].label if shown else "none"
        outline, registered = template_outline(template, registrations.get(scan_id), volume)
        draw_qc_image(
            qc_image,
            volume,
            record,
            crop_shapes,
            shown_rows,
            predicted,
            rated,
            f"{scan_id} ({splits[scan_id]}), stored {volume.voxel_order.stored_axes}; PVS and counts: {label}"
            + registered,
            outline,
        )
        rows.append(row | {"qc_image": str(qc_image.relative_to(results.root)), "pvs_maps": ";".join(maps)})
        log.info("%s: %d PVS written in the scan's grid", scan_id, row["n_pvs"])
    return pd.DataFrame(rows, columns=MANIFEST_COLUMNS)
