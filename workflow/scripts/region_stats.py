"""Snakemake entry point: detection statistics of one method in one region (test scans)."""

import pandas as pd

from pvsflow.cohort.tables import read_counts, read_dots
from pvsflow.io.settings import DetectionSettings, EvaluationSettings, from_mapping
from pvsflow.io.volumes import read_tables, write_table
from pvsflow.pipeline.jobs import log_to
from pvsflow.regions.crops import scan_crops_in
from pvsflow.report import figures
from pvsflow.stats.chance import chance_fauc
from pvsflow.stats.evaluation import dots_in_crops, froc_table, region_metrics, scan_results, scan_table

log = log_to(snakemake.log[0])
region, method = snakemake.wildcards.region, snakemake.wildcards.method
settings = from_mapping(EvaluationSettings, snakemake.params.evaluation)
detection = from_mapping(DetectionSettings, snakemake.params.detection)
detections = read_tables(snakemake.input.detections)
scan_counts = read_tables(snakemake.input.scan_counts)
counts = read_counts(snakemake.input.counts)
counts = counts[counts["region"] == region]
rated = set(counts["scan"])
for scan_id in sorted(set(snakemake.params.test_scans) - rated):
    log.warning("%s: not evaluated in %s: no usable PVS count", scan_id, region)
test = [scan_id for scan_id in snakemake.params.test_scans if scan_id in rated]
dots = read_dots(snakemake.input.dots, counts)
dots, outside = dots_in_crops(dots, scan_crops_in(snakemake.input.crops, test), region, source=snakemake.input.dots)
for problem in outside:
    log.warning("%s", problem)
per_scan = scan_results(
    detections,
    scan_counts,
    dots,
    counts,
    scan_ids=test,
    max_distance=settings.match_distance_voxels,
)
failed = sorted(set(test) - set(per_scan["scan"]))
for scan_id in failed:
    log.warning("%s: not evaluated (failed upstream, see scan_counts)", scan_id)
chance = chance_fauc(
    scan_crops_in(snakemake.input.crops, test), region, dots, nms_size=detection.nms_size, settings=settings
)
metrics = region_metrics(per_scan, region=region, method=method, n_failed=len(failed), chance=chance, settings=settings)
write_table(pd.DataFrame([metrics]), snakemake.output.metrics, tsv=snakemake.output.metrics_tsv)
table = scan_table(per_scan)
froc = froc_table(table)
froc.to_csv(snakemake.output.froc, sep="\t", index=False, float_format="%.6g")
write_table(per_scan, snakemake.output.per_scan)
operating = table.operating_point()
figures.froc_plot(
    snakemake.output.plot,
    {method: (froc["fp_avg"], froc["sensitivity"])},
    settings.fauc_max_fp,
    f"{region}: FAUC {metrics['fauc']:.1f}",
    {method: (operating["fp_avg"], operating["sensitivity"])},
)
log.info("%s", metrics)
