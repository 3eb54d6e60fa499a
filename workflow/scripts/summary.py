"""Snakemake entry point: the cohort-wide summary over every region and method."""

import pandas as pd

from pvsflow.attention.catalogue import METHOD_CATALOGUE
from pvsflow.io.layout import input_key
from pvsflow.io.settings import EvaluationSettings, from_mapping
from pvsflow.io.volumes import read_tables, write_table
from pvsflow.nets.training_check import read_networks
from pvsflow.pipeline.jobs import log_to
from pvsflow.report.paper_tables import RUN_TABLES, paper_tables_html, paper_tables_markdown, summary_markdown
from pvsflow.stats.evaluation import overall_rows

log = log_to(snakemake.log[0])
settings = from_mapping(EvaluationSettings, snakemake.params.evaluation)
runs = [tuple(run) for run in snakemake.params.region_methods]
metrics = read_tables(snakemake.input[input_key("metrics", *run)] for run in runs)
per_scan = {run: pd.read_parquet(snakemake.input[input_key("per_scan", *run)]) for run in runs}
summary = pd.concat([metrics, overall_rows(metrics, per_scan, settings)], ignore_index=True)
write_table(summary, snakemake.output.table, tsv=snakemake.output.tsv)
with open(snakemake.output.markdown, "w") as handle:
    handle.write(summary_markdown(summary, settings.fauc_max_fp, read_networks(snakemake.input.networks)))
labels = {name: method.label for name, method in METHOD_CATALOGUE.items()}
with open(snakemake.output.tables, "w") as handle:
    handle.write(paper_tables_markdown(summary, labels, settings.fauc_max_fp, tables=RUN_TABLES))
with open(snakemake.output.tables_html, "w") as handle:
    handle.write(paper_tables_html(summary, labels, settings.fauc_max_fp, RUN_TABLES))
log.info("summary of %d regions x methods written", len(metrics))
