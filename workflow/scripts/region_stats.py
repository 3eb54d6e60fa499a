"""Snakemake entry point: detection statistics of one method in one region (test scans)."""

import pandas as pd

from pvsflow import plots
from pvsflow.cohort import read_counts, read_dots
from pvsflow.evaluation import EvaluationSettings, chance_fauc, count_agreement, scan_results, scan_table, summarise
from pvsflow.io import write_table
from pvsflow.jobs import log_to

log = log_to(snakemake.log[0])
region, method = snakemake.wildcards.region, snakemake.wildcards.method
settings = EvaluationSettings(**snakemake.params.evaluation)
detections = pd.concat([pd.read_parquet(p) for p in snakemake.input.detections], ignore_index=True)
scan_counts = pd.concat([pd.read_parquet(p) for p in snakemake.input.scan_counts], ignore_index=True)
dots = read_dots(snakemake.input.dots)
counts = read_counts(snakemake.input.counts)
test = list(snakemake.params.test_subjects)
per_scan = scan_results(detections, scan_counts, dots[dots["region"] == region], counts[counts["region"] == region],
                        test, settings.match_distance_voxels)
failed = sorted(set(test) - set(per_scan["subject"]))
for subject in failed:
    log.warning("%s: not evaluated (failed upstream, see scan_counts)", subject)
table = scan_table(per_scan)
fp_avg, sensitivity = table.froc()
metrics = {"region": region, "method": method, "n_scans": len(per_scan), "n_failed": len(failed),
           "n_lesions": int(per_scan["n_lesions"].sum()), **summarise([table], settings),
           "chance_fauc": chance_fauc(snakemake.input.crops, region, dots[dots["region"] == region],
                                      snakemake.params.detection["nms_size"], settings),
           "matched_distance_voxels": float(per_scan["matched_distance_voxels"].mean()),
           **count_agreement(per_scan)}
metrics_frame = pd.DataFrame([metrics])
write_table(metrics_frame, snakemake.output.metrics, tsv=snakemake.output.metrics_tsv)
pd.DataFrame({"selected_per_scan": range(len(fp_avg)), "fp_avg": fp_avg, "sensitivity": sensitivity}).to_csv(
    snakemake.output.froc, sep="\t", index=False, float_format="%.6g")
write_table(per_scan, snakemake.output.per_scan)
operating = table.operating_point()
plots.froc_plot(snakemake.output.plot, {method: (fp_avg, sensitivity)}, settings.fauc_max_fp,
                f"{region}: FAUC {metrics['fauc']:.1f}", {method: (operating["fp_avg"], operating["sensitivity"])})
log.info("%s", metrics)
