"""Snakemake entry point: compare every method of one region (paired tests, FROC figure)."""

import pandas as pd

from pvsflow.attention.catalogue import METHOD_CATALOGUE
from pvsflow.cohort.tables import read_dots
from pvsflow.io.layout import input_key
from pvsflow.io.settings import EvaluationSettings, from_mapping
from pvsflow.io.volumes import write_table
from pvsflow.pipeline.jobs import log_to
from pvsflow.report import figures
from pvsflow.stats.comparison import compare_methods, intra_rater_agreement
from pvsflow.stats.evaluation import aligned_tables

COUNT_COLUMNS = ["predicted_count", "true_count"]
log = log_to(snakemake.log[0])
region, methods = snakemake.wildcards.region, snakemake.params.methods
settings = from_mapping(EvaluationSettings, snakemake.params.evaluation)
tables = aligned_tables({m: pd.read_parquet(snakemake.input[input_key("per_scan", m)]) for m in methods})
pairwise = compare_methods(tables, settings).assign(region=region)
write_table(pairwise, snakemake.output.pairwise, tsv=snakemake.output.pairwise_tsv)

rater_points = {}
rater = pd.DataFrame(columns=["reference", "sensitivity", "fp_avg", "fn_avg"])
if "repeat_dots" in snakemake.input.keys():
    dots = read_dots(snakemake.input.dots)
    repeat = read_dots(snakemake.input.repeat_dots)
    rater = intra_rater_agreement(
        dots[dots["region"] == region],
        repeat[repeat["region"] == region],
        scan_ids=list(snakemake.params.test_scans),
        max_distance=settings.match_distance_voxels,
    )
    rater_points = {
        f"intra-rater ({row.reference} pass as reference)": (row.fp_avg, row.sensitivity) for row in rater.itertuples()
    }
rater.assign(region=region).to_csv(snakemake.output.rater, sep="\t", index=False, float_format="%.6g")

curves, operating = {}, {}
for method in methods:
    froc = pd.read_csv(snakemake.input[input_key("froc", method)], sep="\t")
    metrics = pd.read_parquet(snakemake.input[input_key("metrics", method)]).iloc[0]
    label = f"{METHOD_CATALOGUE[method].label} ({metrics['fauc']:.1f})"
    curves[label] = (froc["fp_avg"].to_numpy(), froc["sensitivity"].to_numpy())
    operating[label] = (metrics["fp_avg"], metrics["sensitivity"])
figures.froc_plot(
    snakemake.output.froc, curves, settings.fauc_max_fp, f"{region} (FAUC in brackets)", operating, rater_points
)
counts = {
    METHOD_CATALOGUE[m].label: pd.read_parquet(snakemake.input[input_key("per_scan", m)], columns=COUNT_COLUMNS)
    for m in methods
}
figures.count_agreement_figure(
    snakemake.output.counts, counts, f"{region}: predicted and rated PVS counts (test scans)"
)
log.info("%s: %d methods, %d pairs compared", region, len(methods), len(pairwise))
