"""Snakemake entry point: cut every region out of one scan (failures are recorded, not raised)."""

from pvsflow.cohort import read_counts
from pvsflow.extraction import extract_scan
from pvsflow.jobs import log_to
from pvsflow.regions import RegionSpec

log = log_to(snakemake.log[0])
scan_id = snakemake.wildcards.scan
specs = [RegionSpec.from_config(name, values) for name, values in snakemake.params.regions.items()]
rated_slices = {}
if "counts" in snakemake.input.keys():  # a cohort without ratings has no rated slices
    counts = read_counts(snakemake.input.counts)
    rated = counts[(counts["scan"] == scan_id) & counts["rated_slice"].notna()]
    rated_slices = {row.region: int(row.rated_slice) for row in rated.itertuples()}
metadata = extract_scan(
    scan_id,
    scan=snakemake.input.scan,
    label_map=snakemake.input.label_map,
    substructures=snakemake.input.get("substructures"),
    specs=specs,
    rated_slices=rated_slices,
    out_dir=snakemake.output.crops,
)
for region, entry in metadata["regions"].items():
    log.info("%s %s: %s", scan_id, region, entry["status"])
