"""Snakemake entry point: each pair of consecutive sessions of a set, the later scan registered
rigidly to the earlier (a failed pair is a row with its problem, never a failed job)."""

from pvsflow.io.settings import TemplateSettings, from_mapping
from pvsflow.io.volumes import write_table
from pvsflow.pipeline.jobs import log_to
from pvsflow.space.sessions import SESSION_TRANSFORM_SCHEMA, register_session_pairs

log = log_to(snakemake.log[0])
settings = from_mapping(TemplateSettings, snakemake.params.template)
transforms = register_session_pairs(
    [tuple(pair) for pair in snakemake.params.pairs], snakemake.params.sources, settings
)
write_table(transforms, snakemake.output.transforms, SESSION_TRANSFORM_SCHEMA)
log.info("%d of %d pairs of sessions registered", int((transforms["status"] == "ok").sum()), len(transforms))
