"""Snakemake entry point: the cohort-wide summary over every region and method."""

import pandas as pd

from pvsflow.attention import METHODS
from pvsflow.evaluation import EvaluationSettings, aligned_tables, summarise
from pvsflow.io import write_table
from pvsflow.jobs import log_to
from pvsflow.reports import paper_tables_html, paper_tables_markdown, summary_markdown

log = log_to(snakemake.log[0])
settings = EvaluationSettings(**snakemake.params.evaluation)
metrics = pd.concat([pd.read_parquet(p) for p in snakemake.input.metrics], ignore_index=True)
per_scan = {(row.region, row.method): pd.read_parquet(path)
            for row, path in zip(metrics.itertuples(), snakemake.input.per_scan)}
overall = []
for method, rows in metrics.groupby("method", sort=False):
    # Resample the same scans in every region: those evaluated in all of them.
    aligned = list(aligned_tables({region: per_scan[(region, method)] for region in rows["region"]}).values())
    overall.append({"region": "overall", "method": method, "n_scans": len(aligned[0]),
                    "n_failed": int(rows["n_failed"].max()), "n_lesions": int(rows["n_lesions"].sum()),
                    **summarise(aligned, settings), "chance_fauc": float(rows["chance_fauc"].mean()),
                    "matched_distance_voxels": float(rows["matched_distance_voxels"].mean()),
                    "count_pearson_r": float(rows["count_pearson_r"].mean()),
                    "count_spearman_r": float(rows["count_spearman_r"].mean()),
                    "count_mae": float(rows["count_mae"].mean())})
summary = pd.concat([metrics, pd.DataFrame(overall)], ignore_index=True)
write_table(summary, snakemake.output.table, tsv=snakemake.output.tsv)
with open(snakemake.output.markdown, "w") as handle:
    handle.write(summary_markdown(summary, settings.fauc_max_fp))
labels = {name: method.label for name, method in METHODS.items()}
with open(snakemake.output.tables, "w") as handle:
    handle.write(paper_tables_markdown(summary, labels, settings.fauc_max_fp))
with open(snakemake.output.tables_html, "w") as handle:
    handle.write(paper_tables_html(summary, labels, settings.fauc_max_fp))
log.info("summary of %d regions x methods written", len(metrics))
