"""Snakemake entry point: the cohort's count table (one row per scan) and QC table."""

import pandas as pd

from pvsflow.cohort import read_counts
from pvsflow.cohort_tables import pvs_count_table, qc_table
from pvsflow.extraction import crop_dirs_of
from pvsflow.io import write_table
from pvsflow.jobs import log_to
from pvsflow.layout import input_key

log = log_to(snakemake.log[0])
scan_counts = {
    (region, method): pd.concat(
        [pd.read_parquet(path) for path in snakemake.input[input_key("scan_counts", region, method)]],
        ignore_index=True,
    )
    for region, method in snakemake.params.region_methods
}
ratings = read_counts(snakemake.input.counts) if "counts" in snakemake.input.keys() else None
counts = pvs_count_table(snakemake.params.scans, scan_counts, ratings)
write_table(counts, snakemake.output.counts_parquet, tsv=snakemake.output.counts_tsv)
qc = qc_table(crop_dirs_of(snakemake.input.crops, snakemake.params.scans), scan_counts)
qc.to_csv(snakemake.output.qc, sep="\t", index=False, na_rep="n/a", float_format="%.4g")
failed = qc[qc["status"] != "ok"]
log.info("%d scans; %d of %d scan regions failed", len(counts), len(failed), len(qc))
for row in failed.itertuples():
    log.warning("%s", row.reason)
