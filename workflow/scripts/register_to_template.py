"""Snakemake entry point: every scan of one crop set registered to the run's template (a failed
scan is a row with its problem, never a failed job)."""

from pvsflow.io.settings import TemplateSettings, from_mapping
from pvsflow.io.volumes import write_table
from pvsflow.pipeline.jobs import log_to
from pvsflow.space.coordinates import TRANSFORM_SCHEMA
from pvsflow.space.templates import load_template
from pvsflow.space.transforms import register_shard

log = log_to(snakemake.log[0])
settings = from_mapping(TemplateSettings, snakemake.params.template)
template = load_template(settings.space, settings.image)
transforms = register_shard(snakemake.params.sources, template, settings)
write_table(transforms, snakemake.output.transforms, TRANSFORM_SCHEMA)
registered = int((transforms["status"] == "ok").sum())
log.info("%d of %d scans registered to %s", registered, len(transforms), template.space)
