"""Snakemake entry point: ranked PVS candidates of one crop set's scans, written as Parquet."""

import pandas as pd

from pvsflow.detect.candidates import DETECTION_SCHEMA, NO_CANDIDATE_FLAG, SCAN_COUNT_SCHEMA, detect_shard
from pvsflow.io.settings import DetectionSettings, from_mapping
from pvsflow.io.volumes import write_table
from pvsflow.pipeline.jobs import log_to
from pvsflow.regions.crops import scan_crops_in

log = log_to(snakemake.log[0])
settings = from_mapping(DetectionSettings, snakemake.params.detection)
scan_crops = scan_crops_in([snakemake.input.crops])
detections, scan_counts = detect_shard(
    snakemake.input.maps,
    scan_crops,
    region=snakemake.wildcards.region,
    nms_size=settings.nms_size,
    splits=snakemake.params.splits,
    transforms=pd.read_parquet(snakemake.input.transforms),
)
write_table(detections, snakemake.output.detections, DETECTION_SCHEMA)
write_table(scan_counts, snakemake.output.scan_counts, SCAN_COUNT_SCHEMA)
for row in scan_counts[scan_counts["status"] != "ok"].itertuples():
    log.warning("%s: no detections: %s", row.scan, row.error)
empty = scan_counts["network_warning"].str.contains(NO_CANDIDATE_FLAG, regex=False)
if empty.any():
    log.warning("%d of %d scans: %s", int(empty.sum()), len(scan_counts), NO_CANDIDATE_FLAG)
log.info("%d candidates in %d scans", len(detections), len(scan_counts))
