"""Snakemake entry point: compare every method of one region (paired tests, FROC figure)."""

import pandas as pd

from pvsflow.attention.catalogue import METHOD_CATALOGUE
from pvsflow.cohort.tables import read_dots
from pvsflow.io.layout import input_key
from pvsflow.io.settings import EvaluationSettings, from_mapping
from pvsflow.io.volumes import write_table
from pvsflow.pipeline.jobs import log_to
from pvsflow.report import figures
from pvsflow.stats.comparison import RATER_COLUMNS, compare_methods, intra_rater_agreement
from pvsflow.stats.evaluation import COUNT_COLUMNS, aligned_tables

log = log_to(snakemake.log[0])
region, methods = snakemake.wildcards.region, snakemake.params.methods
settings = from_mapping(EvaluationSettings, snakemake.params.evaluation)
tables = aligned_tables({m: pd.read_parquet(snakemake.input[input_key("per_scan", m)]) for m in methods})
pairwise = compare_methods(tables, settings).assign(region=region)
write_table(pairwise, snakemake.output.pairwise, tsv=snakemake.output.pairwise_tsv)

rater = pd.DataFrame(columns=list(RATER_COLUMNS))
if "repeat_dots" in snakemake.input.keys():
    dots = read_dots(snakemake.input.dots)
    repeat = read_dots(snakemake.input.repeat_dots)
    rater = intra_rater_agreement(
        dots[dots["region"] == region],
        repeat[repeat["region"] == region],
        scan_ids=list(snakemake.params.test_scans),
        max_distance=settings.match_distance_voxels,
    )
rater.assign(region=region).to_csv(snakemake.output.rater, sep="\t", index=False, float_format="%.6g")

labels = {m: METHOD_CATALOGUE[m].label for m in methods}
figures.methods_froc_plot(
    snakemake.output.froc,
    {labels[m]: pd.read_csv(snakemake.input[input_key("froc", m)], sep="\t") for m in methods},
    {labels[m]: pd.read_parquet(snakemake.input[input_key("metrics", m)]).iloc[0] for m in methods},
    settings.fauc_max_fp,
    f"{region} (FAUC in brackets)",
    figures.rater_points(rater),
)
counts = {
    labels[m]: pd.read_parquet(snakemake.input[input_key("per_scan", m)], columns=list(COUNT_COLUMNS)) for m in methods
}
figures.count_agreement_figure(
    snakemake.output.counts, counts, f"{region}: predicted and rated PVS counts (test scans)"
)
log.info("%s: %d methods, %d pairs compared", region, len(methods), len(pairwise))
