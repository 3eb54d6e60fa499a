"""Snakemake entry point: the results' dataset_description.json (a BIDS derivative dataset)."""

from pvsflow.io import write_json
from pvsflow.jobs import log_to
from pvsflow.provenance import dataset_description

log = log_to(snakemake.log[0])
description = dataset_description(
    config_digest=snakemake.params.config_digest, commit=snakemake.params.commit, source=snakemake.params.source
)
write_json(snakemake.output[0], description)
log.info("%s", description["GeneratedBy"][0])
