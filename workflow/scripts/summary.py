"""Snakemake entry point: the cohort-wide summary over every region and method."""

import pandas as pd

from pvsflow.evaluation import EvaluationSettings, summarise, scan_table
from pvsflow.io import write_table
from pvsflow.jobs import log_to
from pvsflow.reports import summary_markdown

log = log_to(snakemake.log[0])
settings = EvaluationSettings(**snakemake.params.evaluation)
metrics = pd.concat([pd.read_parquet(p) for p in snakemake.input.metrics], ignore_index=True)
per_scan = {(row.region, row.method): pd.read_parquet(path)
            for row, path in zip(metrics.itertuples(), snakemake.input.per_scan)}
overall = []
for method, rows in metrics.groupby("method", sort=False):
    tables = [per_scan[(region, method)] for region in rows["region"]]
    # Resample the same scans in every region: those evaluated in all of them.
    shared = sorted(set.intersection(*(set(t["subject"]) for t in tables)))
    aligned = [scan_table(t.set_index("subject").loc[shared].reset_index()) for t in tables]
    overall.append({"region": "overall", "method": method, "n_scans": len(shared),
                    "n_failed": int(rows["n_failed"].max()), "n_lesions": int(rows["n_lesions"].sum()),
                    **summarise(aligned, settings), "chance_fauc": float(rows["chance_fauc"].mean()),
                    "matched_distance_voxels": float(rows["matched_distance_voxels"].mean()),
                    "count_pearson_r": float(rows["count_pearson_r"].mean()),
                    "count_spearman_r": float(rows["count_spearman_r"].mean()),
                    "count_mae": float(rows["count_mae"].mean())})
summary = pd.concat([metrics, pd.DataFrame(overall)], ignore_index=True)
write_table(summary, snakemake.output.table, tsv=snakemake.output.tsv)
with open(snakemake.output.markdown, "w") as handle:
    handle.write(summary_markdown(summary))
log.info("summary of %d regions x methods written", len(metrics))
