"""Snakemake entry point: cut every region out of each scan of one crop set (failures are
recorded per scan and region, not raised)."""

from pathlib import Path

from pvsflow.cohort.tables import rated_slices, read_counts
from pvsflow.pipeline.jobs import log_to
from pvsflow.regions.extraction import extract_scan
from pvsflow.regions.registry import RegionSpec

log = log_to(snakemake.log[0])
specs = [RegionSpec.from_config(name, values) for name, values in snakemake.params.regions.items()]
# A cohort without ratings has no rated slices.
slices = rated_slices(read_counts(snakemake.input.counts)) if "counts" in snakemake.input.keys() else {}
out_dir = Path(snakemake.output.crops)
for scan_id, files in snakemake.params.sources.items():
    record = extract_scan(
        scan_id,
        scan=files.scan,
        label_map=files.label_map,
        substructures=files.substructures,
        specs=specs,
        rated_slices=slices.get(scan_id, {}),
        out_dir=out_dir / scan_id,
    )
    if record.voxel_order is not None:
        log.info("%s: voxels stored %s", scan_id, record.voxel_order.stored_axes)
    for region, crop in record.regions.items():
        coverage = f", {100 * crop.coverage:.1f}% of the region inside the crop" if crop.ok else ""
        log.info("%s %s: %s%s", scan_id, region, crop.status, coverage)
