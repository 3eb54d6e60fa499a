"""Snakemake entry point: the cohort's count table (one row per scan) and QC table."""

import pandas as pd

from pvsflow.cohort.check import PROBLEM_COLUMNS
from pvsflow.cohort.tables import read_counts
from pvsflow.io.layout import input_key, scan_id
from pvsflow.io.settings import QcSettings, from_mapping
from pvsflow.io.volumes import read_tables, write_table
from pvsflow.pipeline.jobs import log_to
from pvsflow.regions.crops import scan_crops_in
from pvsflow.report.cohort_tables import pvs_count_table, qc_table

log = log_to(snakemake.log[0])
scan_counts = {
    (region, method): read_tables(snakemake.input[input_key("scan_counts", region, method)])
    for region, method in snakemake.params.region_methods
}
ratings = read_counts(snakemake.input.counts) if "counts" in snakemake.input.keys() else None
counts = pvs_count_table(snakemake.params.scans, scan_counts, ratings, snakemake.params.splits)
write_table(counts, snakemake.output.counts_parquet, tsv=snakemake.output.counts_tsv)
problems = pd.DataFrame(snakemake.params.cohort_problems, columns=list(PROBLEM_COLUMNS))
problems.to_csv(snakemake.output.problems, sep="\t", index=False)
qc_settings = from_mapping(QcSettings, snakemake.params.qc)
qc = qc_table(
    scan_crops_in(snakemake.input.crops, snakemake.params.scans),
    scan_counts,
    qc_settings,
    problems,
    read_tables(snakemake.input.transforms),
)
qc.to_csv(snakemake.output.qc, sep="\t", index=False, na_rep="n/a", float_format="%.4g")
failed = qc[qc["status"] != "ok"]
log.info("%d scans; %d of %d scan regions failed or excluded", len(counts), len(failed), len(qc))
log.info("%d cohort problems (%s)", len(problems), snakemake.output.problems)
for row in failed.itertuples():
    log.warning("%s", row.reason)
warned = qc[qc["warning"] != ""].drop_duplicates(["participant_id", "session", "warning"])
for row in warned.itertuples():
    log.warning("%s: %s", scan_id(row.participant_id, row.session or None), row.warning)
