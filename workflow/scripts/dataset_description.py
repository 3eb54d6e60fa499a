"""Snakemake entry point: the results' dataset_description.json (a BIDS derivative dataset)."""

from pvsflow.io.provenance import dataset_description
from pvsflow.io.volumes import write_json
from pvsflow.pipeline.jobs import log_to

log = log_to(snakemake.log[0])
description = dataset_description(
    config_digest=snakemake.params.config_digest, commit=snakemake.params.commit, source=snakemake.params.source
)
write_json(snakemake.output[0], description)
log.info("%s", description["GeneratedBy"][0])
