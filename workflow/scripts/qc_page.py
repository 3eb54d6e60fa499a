"""Snakemake entry point: the cohort's QC page, a row per scan."""

from pathlib import Path

import pandas as pd

from pvsflow.attention.catalogue import METHOD_CATALOGUE
from pvsflow.nets.training_check import read_network_messages
from pvsflow.pipeline.jobs import log_to
from pvsflow.report.qc_page import manifest_images, page_rows, qc_page_html

log = log_to(snakemake.log[0])
page = Path(snakemake.output[0])
counts = pd.read_parquet(snakemake.input.counts)
qc = pd.read_csv(snakemake.input.qc, sep="\t", dtype={"warning": str, "reason": str}, keep_default_na=False)
method = snakemake.params.method
images = manifest_images(snakemake.input.manifests)
columns, rows = page_rows(counts, qc, images, regions=snakemake.params.regions, method=method)
label = METHOD_CATALOGUE[method].label if method else "no method"
notices = read_network_messages(snakemake.input.networks)
page.write_text(qc_page_html(columns, rows, f"pvsflow QC: {len(rows)} scans (counts: {label})", notices))
log.info(
    "%d rows, %d flagged, %.1f MB",
    len(rows),
    sum(bool(r[columns.index("flags")]) for r in rows),
    page.stat().st_size / 1e6,
)
